"""Simon Willison's ``llm`` CLI, configured the way its docs say for an OpenAI-compatible
server (extra-openai-models.yaml), pointed at talkterm: run in its own venv by
tests/clients/test_llm_cli.py; prints one JSON report of what the user saw.

Three commands: a prompt with a system prompt, ``-c`` to continue that conversation, and
one with ``--functions`` so the model can call a Python tool.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TOOL = """
def get_weather(city: str) -> str:
    "The weather in a city."
    return "Rainy in " + city + "."
"""


def main(base_url: str) -> None:
    """Run the commands and report their output and exit codes."""
    home = Path(tempfile.mkdtemp(prefix="llm-home-"))
    (home / "extra-openai-models.yaml").write_text(
        "- model_id: talkterm\n"
        "  model_name: talkterm\n"
        f"  api_base: {base_url}\n"
        "  api_key_name: talkterm\n"
        "  supports_tools: true\n"
    )
    (home / "keys.json").write_text(json.dumps({"talkterm": "unused"}))
    env = os.environ | {"LLM_USER_PATH": str(home)}
    llm = str(Path(sys.executable).parent / "llm")
    runs = [
        [llm, "-m", "talkterm", "-s", "Answer like a pirate.", "What is the capital of France?"],
        [llm, "-c", "And of Spain?"],
        [llm, "-m", "talkterm", "--functions", TOOL, "Weather in Lima?"],
    ]
    report = []
    for command in runs:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        report.append({"code": done.returncode, "out": done.stdout, "err": done.stderr[-2000:]})
    print(json.dumps({"runs": report}))


if __name__ == "__main__":
    main(sys.argv[1])
