"""The real ``talkterm`` in a private tmux server: start it, read its screen, send keys."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

TALKTERM = Path(sys.executable).parent / "talkterm"
"""The installed ``talkterm`` command, as the README starts it."""


def talkterm_command(home: Path, *args: str, **env: str) -> str:
    """The shell command that starts talkterm with its config, state and data under ``home``."""
    values = {
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_DATA_HOME": str(home / "data"),
        "TALKTERM_PROBE_LOCAL": "false",
        "TALKTERM_LOCAL_LLM": "false",
        "TERM": "xterm-256color",
    } | env
    return " ".join(["env", *(f"{k}={v}" for k, v in values.items()), str(TALKTERM), *args])


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
        """The pane's text as it stands."""
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
