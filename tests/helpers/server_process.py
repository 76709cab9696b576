"""The companion server as a separate process, started the way a person starts it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any


def clean_env(**extra: str) -> dict[str, str]:
    """This environment minus talkterm settings and keys, plus ``extra``; no LLM probing nor
    local model, espeak-ng speech unless a test asks for Piper (it starts faster and repeats
    itself), no voice input unless a test asks for it, and no token unless a test gives one
    (``--token``; without either the server makes one up)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALKTERM_")}
    env.pop("OPENAI_API_KEY", None)
    # No recognizer either, unless a test asks for one: most never speak to the server.
    quiet = {
        "TALKTERM_PROBE_LOCAL": "false",
        "TALKTERM_LOCAL_LLM": "false",
        "TALKTERM_TTS": "espeak",
        "TALKTERM_STT": "none",
        "TALKTERM_TOKEN": "",
    }
    return env | quiet | extra


async def spawn(
    *args: str, env: dict[str, str] | None = None, **kw: Any
) -> asyncio.subprocess.Process:
    """Run ``python -m server ARGS`` with stdout and stderr piped (unless ``kw`` says otherwise)."""
    options: dict[str, Any] = {"stdout": asyncio.subprocess.PIPE, "stderr": asyncio.subprocess.PIPE}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", *args, env=env or clean_env(), **(options | kw)
    )


async def ready_line(proc: asyncio.subprocess.Process, timeout: float = 15) -> dict[str, Any]:
    """The JSON line the server prints once it listens."""
    assert proc.stdout is not None
    return dict(json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout)))
