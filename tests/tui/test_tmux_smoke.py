"""Smoke test: the real ``talkterm`` in tmux, started as the README says, read off the screen.

talkterm starts its own companion server; the server is pointed at the fake
LLM through its environment. After each way of ending talkterm (ctrl+q,
``tmux kill-server``, SIGKILL) no server process may be left running.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.timeout(120),
]

TALKTERM = Path(sys.executable).parent / "talkterm"
ANSWER = "Tea is a drink made from leaves. You steep them in hot water. " * 8


class Tmux:
    """One private tmux server running talkterm in a single pane."""

    def __init__(self, socket: str, state_dir: Path) -> None:
        self.socket = socket
        self.log = state_dir / "talkterm" / "talkterm.log"

    async def run(self, *args: str, check: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            "tmux", "-L", self.socket, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        if check and proc.returncode != 0:
            raise AssertionError(f"tmux {args}: {err.decode()}")
        return out.decode()

    async def screen(self) -> str:
        return await self.run("capture-pane", "-p")

    async def wait_screen(self, pattern: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = await self.screen()
            if re.search(pattern, text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never appeared on screen:\n{text}")
            await asyncio.sleep(0.1)

    async def keys(self, *keys: str) -> None:
        await self.run("send-keys", *keys)

    async def server_pid(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.exists():
                found = re.findall(r"companion server pid (\d+)", self.log.read_text())
                if found:
                    return int(found[-1])
            await asyncio.sleep(0.1)
        raise AssertionError("talkterm never logged its companion server's pid")


def _stat(pid: int) -> tuple[str, str] | None:
    """The process's state letter and start time (/proc/PID/stat), or None once it is gone."""
    try:
        # Reading the file of a process that is exiting fails with ESRCH
        # (ProcessLookupError) rather than ENOENT: any OSError means gone.
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces or parentheses itself.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], fields[19]


def running(pid: int, started: str | None = None) -> bool:
    """Alive and not a zombie (a container's init may never reap the dead).

    With ``started`` (its start time when first seen), a new process that was
    given the same pid does not count.
    """
    stat = _stat(pid)
    if stat is None or stat[0] in "ZX":
        return False
    return started is None or stat[1] == started


async def gone(pid: int, timeout: float = 10.0) -> bool:
    """Wait until ``pid`` is no longer running; False if it still is after ``timeout``."""
    stat = _stat(pid)
    started = stat[1] if stat else None
    deadline = time.monotonic() + timeout
    while running(pid, started):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@pytest.fixture
async def tmux(fake_llm: FakeLLM, tmp_path: Path) -> AsyncIterator[Tmux]:
    """talkterm running in a fresh tmux server; the tmux server is killed at the end."""
    (tmp_path / "config").mkdir()
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "TALKTERM_LLM_BASE_URL": fake_llm.base_url,
        "TALKTERM_LLM_MODEL": "fake-model",
        "TALKTERM_TTS": "espeak" if shutil.which("espeak-ng") else "none",
        "TALKTERM_PROBE_LOCAL": "false",
        "TERM": "xterm-256color",
    }
    command = "env " + " ".join(f"{k}={v}" for k, v in env.items()) + f" {TALKTERM}"
    session = Tmux(f"talkterm-test-{os.getpid()}-{tmp_path.name}", tmp_path / "state")
    await session.run("new-session", "-d", "-x", "110", "-y", "32", command)
    try:
        yield session
    finally:
        await session.run("kill-server", check=False)


async def test_ask_pause_resume_stop_and_quit(fake_llm: FakeLLM, tmux: Tmux) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER), delay=0.03), Reply(chunks=["Short one."]))
    screen = await tmux.wait_screen(r"● connected")
    assert "^j Send" in screen and "^g Stop" in screen and "^q Quit" in screen
    server = await tmux.server_pid()
    assert running(server)

    await tmux.keys("What is tea?")
    await tmux.keys("C-j")
    await tmux.wait_screen(r"Tea is a drink made from leaves")
    await tmux.wait_screen(r"│ streaming")
    await tmux.keys("C-o")
    await tmux.wait_screen(r"‖ paused")
    await tmux.keys("C-r")
    await tmux.wait_screen(r"│ streaming")
    await tmux.keys("C-g")
    await tmux.wait_screen(r"■ stopped")
    await tmux.wait_screen(r"│ idle")

    await tmux.keys("And briefly?")
    await tmux.keys("C-j")
    await tmux.wait_screen(r"Short one\.")

    await tmux.keys("C-q")
    assert await gone(server), "the companion server outlived talkterm's quit"
    log = tmux.log.read_text()
    assert "companion server stopped" in log
    assert "TALKTERM_TOKEN" not in log and not re.search(r"Bearer \S", log)


async def test_no_server_is_left_after_tmux_kill_server(tmux: Tmux) -> None:
    await tmux.wait_screen(r"● connected")
    server = await tmux.server_pid()
    app_pid = int((await tmux.run("display-message", "-p", "#{pane_pid}")).strip())
    await tmux.run("kill-server")
    assert await gone(app_pid), "talkterm survived tmux kill-server"
    assert await gone(server), "the companion server outlived tmux kill-server"


async def test_no_server_is_left_after_sigkill(tmux: Tmux) -> None:
    await tmux.wait_screen(r"● connected")
    server = await tmux.server_pid()
    app_pid = int((await tmux.run("display-message", "-p", "#{pane_pid}")).strip())
    cmdline = await asyncio.to_thread(Path(f"/proc/{app_pid}/cmdline").read_text)
    assert "talkterm" in cmdline
    os.kill(app_pid, signal.SIGKILL)
    assert await gone(server), "the companion server outlived a SIGKILLed talkterm"
