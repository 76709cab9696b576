"""Running a voice-agent framework against a real talkterm-server, each in its own venv.

The venv (``.venv-clients/NAME``, made by scripts/client-venvs.sh, which bootstrap's test
mode runs) holds the framework with its own pins and talkterm beside it. The server runs
from that venv too, so a dependency clash shows here as it would for a user; the
framework runs a driver script (tests/clients/drivers/) that prints one JSON report.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.fakes.llm_upstream import FakeLLM

ROOT = Path(__file__).resolve().parents[2]


def client_python(name: str) -> Path:
    """The framework venv's interpreter, made first if it is missing (1-2 min once)."""
    python = ROOT / ".venv-clients" / name / "bin" / "python"
    subprocess.run(["bash", str(ROOT / "scripts" / "client-venvs.sh"), name], check=True)
    return python


def _env(fake_llm: FakeLLM) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALKTERM_")}
    env.pop("OPENAI_API_KEY", None)
    return env | {
        "TALKTERM_PROBE_LOCAL": "false",
        "TALKTERM_TOKEN": "",  # no made-up token: the frameworks connect as they are
        "TALKTERM_STT": "none",  # voice input is not what these tests drive
        "TALKTERM_TTS": "espeak",
        "TALKTERM_LLM_BASE_URL": fake_llm.base_url,
        "TALKTERM_LLM_MODEL": "fake-model",
        "PYTHONPATH": str(ROOT),
    }


@asynccontextmanager
async def framework_server(python: Path, fake_llm: FakeLLM) -> AsyncIterator[dict[str, Any]]:
    """talkterm-server run by ``python`` on port 0, wired to the fake upstream: its ready line."""
    server = await asyncio.create_subprocess_exec(
        str(python),
        "-m",
        "server",
        "--port",
        "0",
        env=_env(fake_llm),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None and server.stderr is not None
        line = await asyncio.wait_for(server.stdout.readline(), 30)
        if not line:
            raise AssertionError((await server.stderr.read()).decode()[-3000:])
        yield json.loads(line)
    finally:
        if server.returncode is None:
            server.terminate()
        await server.communicate()


async def run_driver(
    python: Path, driver: str, fake_llm: FakeLLM, *args: str, timeout: float = 90
) -> dict[str, Any]:
    """Run tests/clients/drivers/DRIVER.py with ``python``; its JSON report."""
    script = ROOT / "tests" / "clients" / "drivers" / f"{driver}.py"
    process = await asyncio.create_subprocess_exec(
        str(python),
        str(script),
        *args,
        env=_env(fake_llm),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    lines = out.decode().strip().splitlines()
    if process.returncode != 0 or not lines:
        raise AssertionError(f"{driver} failed ({process.returncode}):\n{err.decode()[-4000:]}")
    return dict(json.loads(lines[-1]))
