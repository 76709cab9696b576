"""``talkterm-server --workers N`` as a process: its ready line, its workers, HAProxy's view."""

from __future__ import annotations

import asyncio
import signal
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.scale import haproxy
from tests.helpers.server_process import clean_env, ready_line, spawn

TOKEN = "tok-cluster"


@dataclass
class Cluster:
    """The parent process, what it printed, and where its log goes."""

    proc: asyncio.subprocess.Process
    ready: dict[str, Any]
    log: Path
    seen: list[tuple[str, str]] = field(default_factory=list)
    """(worker, HAProxy status) as ``state`` read them, in order."""

    @property
    def url(self) -> str:
        """The front's WebSocket URL."""
        return str(self.ready["listening"])

    @property
    def base(self) -> str:
        """The front's HTTP base URL (an OpenAI base URL)."""
        return str(self.ready["http"])

    @property
    def runtime(self) -> Path:
        """HAProxy's runtime API socket."""
        return Path(self.ready["haproxy"]["runtime"])

    def worker_pid(self, worker_id: str) -> int | None:
        """The live process of worker ``worker_id`` (a restarted one has a new pid)."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except FileNotFoundError:  # the parent has exited
            return None
        for pid in children.split():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            flag = argv.index(b"--worker-id") if b"--worker-id" in argv else -2
            if argv[flag + 1] == worker_id.encode():
                return int(pid)
        return None

    async def states(self) -> dict[str, str]:
        """Each worker's status as HAProxy sees it (UP, DOWN…)."""
        return await haproxy.server_states(self.runtime)

    def state(self, worker: str) -> str:
        """HAProxy's word for ``worker`` now (blocking: a condition for ``wait_for``); each
        answer is kept in ``seen``."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.runtime))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        for line in data.decode().splitlines():
            row = line.split(",")
            if len(row) > 17 and row[0] == haproxy.BACKEND and row[1] == worker:
                self.seen.append((worker, row[17]))
                return row[17]
        return ""

    async def served(self) -> dict[str, int]:
        """Connections HAProxy sent to each worker so far (its ``stot`` column)."""
        table = await haproxy.ask(self.runtime, "show stat")
        rows = [line.split(",") for line in table.splitlines() if line.startswith("talkterm,w")]
        return {row[1]: int(row[7]) for row in rows}

    def stderr(self) -> str:
        """Everything the parent, its workers and HAProxy logged."""
        return self.log.read_text(errors="replace")


def worker_of(session_id: str) -> str:
    """The worker id inside a session id (sess_w1_… → w1)."""
    return session_id.split("_")[1]


@asynccontextmanager
async def cluster(
    llm_url: str, *args: str, workers: int = 2, own_group: bool = False
) -> AsyncIterator[Cluster]:
    """Start ``python -m server --workers N`` on the fake LLM; SIGTERM it at the end (exit 0).
    ``own_group`` starts the parent in a session of its own, as a terminal or systemd would,
    so a test may signal its whole process group without hitting itself."""
    with tempfile.TemporaryDirectory(prefix="talkterm-cluster-") as tmp:
        log = Path(tmp) / "stderr.log"
        with log.open("wb") as err:
            proc = await spawn(
                "--workers", str(workers), "--port", "0", "--token", TOKEN,
                "--llm-base-url", llm_url, "--llm-model", "m", *args,
                env=clean_env(TALKTERM_ESPEAK_RATE="400"), stderr=err,
                start_new_session=own_group,
            )  # fmt: skip
            try:
                ready = await ready_line(proc, timeout=60)
            except BaseException:
                proc.kill()
                await proc.wait()
                raise AssertionError(f"no ready line: {log.read_text()[-3000:]}") from None
            running = Cluster(proc, ready, log)
            try:
                yield running
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    code = await asyncio.wait_for(proc.wait(), 60)
                    assert code == 0, running.stderr()[-3000:]
