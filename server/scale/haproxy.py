"""HAProxy for the supervisor: deploy/haproxy.cfg rendered for local workers, run, asked.

The template is the file an operator uses on its own (docs/scaling.md); rendering replaces
only its marked blocks, so what is tested here is what an operator runs.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from server.errors import HAProxyMissing, HAProxyRefused
from server.protocol import WORKER_ID, session_prefix

BACKEND = "talkterm"
_TEMPLATE_IN_REPO = Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"
_SAFE_ID = re.compile(WORKER_ID)


@dataclass(frozen=True, slots=True)
class Backend:
    """One worker as HAProxy sees it: its id (in its session ids) and its address."""

    id: str
    host: str
    port: int


def template() -> str:
    """deploy/haproxy.cfg: from the source tree, else as packaged beside this module."""
    if _TEMPLATE_IN_REPO.exists():
        return _TEMPLATE_IN_REPO.read_text()
    return resources.files("server.scale").joinpath("haproxy.cfg").read_text()


def render(text: str, front: str, backends: Iterable[Backend], runtime: Path) -> str:
    """``text`` with its front, workers and runtime blocks filled in for these backends."""
    lines: list[str] = []
    servers: list[str] = []
    for b in backends:
        if not _SAFE_ID.fullmatch(b.id):
            raise HAProxyRefused(f"worker id {b.id!r} is not 1-16 lower-case letters or digits")
        lines.append(
            f"use-server {b.id} if {{ urlp(talkterm_session) -m beg {session_prefix(b.id)} }}"
        )
        servers.append(f"server {b.id} {_address(b.host, b.port)}")
    text = _fill(text, "front", [f"bind {front}"])
    text = _fill(text, "runtime", [f"stats socket {runtime} mode 600 level admin"])
    return _fill(text, "workers", lines + servers)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def front_address(host: str, port: int) -> str:
    """A ``bind`` address (IPv6 in brackets)."""
    return _address(host, port)


def _fill(text: str, block: str, body: list[str]) -> str:
    pattern = re.compile(
        rf"^(?P<indent>[ \t]*)# >>> {block}\n.*?^[ \t]*# <<< {block}\n", re.M | re.S
    )
    match = pattern.search(text)
    if match is None:
        raise HAProxyRefused(f"the HAProxy template has no '# >>> {block}' block")
    indent = match["indent"]
    filled = "".join(f"{indent}{line}\n" for line in body)
    return text[: match.start()] + filled + text[match.end() :]


def binary() -> str:
    """The haproxy executable (HAProxyMissing when it is not installed)."""
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None
    )
    if found is None:
        raise HAProxyMissing(
            "--workers needs HAProxy in front of the workers: install it "
            "(apt-get install haproxy, or scripts/bootstrap.sh does it)."
        )
    return found


async def check(config: Path) -> None:
    """Let HAProxy validate ``config``; HAProxyRefused with its words when it refuses."""
    proc = await asyncio.create_subprocess_exec(
        binary(),
        "-c",
        "-f",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise HAProxyRefused(f"HAProxy refused its configuration: {out.decode()[-2000:]}")


async def start(
    config: Path, preexec: Callable[[], None] | None = None
) -> asyncio.subprocess.Process:
    """Run HAProxy in the foreground (``-db``), its log on our stderr, in a session of its
    own: HAProxy stops at once on SIGINT/SIGTERM, so a terminal's Ctrl-C must reach only the
    supervisor, which stops HAProxy after the workers drained."""
    return await asyncio.create_subprocess_exec(
        binary(), "-db", "-f", str(config), stdin=asyncio.subprocess.DEVNULL,
        preexec_fn=preexec, start_new_session=True,
    )  # fmt: skip


async def ask(runtime: Path, command: str, timeout: float = 2.0) -> str:
    """One runtime API command's answer (``show stat``, ``show servers state``…)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_unix_connection(str(runtime))
        writer.write(command.encode() + b"\n")
        await writer.drain()
        answer = await reader.read()
        writer.close()
    return answer.decode()


async def server_states(runtime: Path) -> dict[str, str]:
    """Each worker's status as HAProxy sees it: UP, DOWN, DRAIN, MAINT, ``UP 1/2``…"""
    table = await ask(runtime, "show stat")
    lines = [line.split(",") for line in table.splitlines() if line and not line.startswith("#")]
    return {
        row[1]: row[17]
        for row in lines
        if len(row) > 17 and row[0] == BACKEND and row[1] not in ("BACKEND", "FRONTEND")
    }
