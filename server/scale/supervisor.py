"""The parent of ``talkterm-server --workers N``: workers on loopback, HAProxy in front.

It starts N workers (``python -m server`` with the same flags, each on a loopback port of
its own and with its own id), renders deploy/haproxy.cfg for them and runs HAProxy on the
public address. A worker that dies is started again on its port (HAProxy is told at once
that it is DOWN, and marks it UP when it answers its checks again); so is HAProxy. SIGTERM
drains: every worker drains (its answers in flight finish), HAProxy stops, the parent exits 0.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from server.config import Settings
from server.errors import WorkerFailed
from server.scale import haproxy

log = logging.getLogger("talkterm.supervisor")

READY_TIMEOUT_S = 60.0
"""A worker loads its speech engine before its ready line (Piper: seconds on a busy core)."""
BACKOFF_S = (1.0, 2.0, 5.0, 10.0)
"""Waits before restarting a child that keeps dying; a child that lived a minute starts over."""
STEADY_S = 60.0
KILL_MARGIN_S = 5.0
"""Past the drain grace, how long a worker may take to stop before it is killed."""


@dataclass
class Child:
    """A worker or HAProxy, and what it takes to start it again."""

    name: str
    port: int = 0
    proc: asyncio.subprocess.Process | None = None
    ready: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0


class Supervisor:
    """Starts, watches, restarts and drains the workers and HAProxy."""

    def __init__(self, settings: Settings, argv: list[str], token: str | None) -> None:
        self.settings = settings
        self.argv = argv
        self.token = token
        self.workers = [Child(f"w{n}") for n in range(1, settings.workers + 1)]
        self.balancer = Child("haproxy")
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="talkterm-haproxy-"))
        self.runtime = self.runtime_dir / "haproxy.sock"
        self.config = self.runtime_dir / "haproxy.cfg"
        self.front_port = settings.port or _free_port(settings.host)
        self.stopping = False
        self._watchers: list[asyncio.Task[None]] = []
        self._outputs: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start every worker, then HAProxy in front of them."""
        haproxy.binary()  # HAProxyMissing before any worker starts
        _raise_fd_limit()  # inherited: HAProxy sizes its maxconn by it, workers hold sockets
        try:
            # A TaskGroup: when one worker fails to start, the others' starts are cancelled
            # (and each cancelled start kills its process), so none is left running.
            async with asyncio.TaskGroup() as group:
                for worker in self.workers:
                    group.create_task(self._start_worker(worker))
        except BaseExceptionGroup as failed:
            raise _first(failed) from None
        backends = [haproxy.Backend(w.name, "127.0.0.1", w.port) for w in self.workers]
        front = haproxy.front_address(self.settings.host, self.front_port)
        self.config.write_text(haproxy.render(haproxy.template(), front, backends, self.runtime))
        await haproxy.check(self.config)
        await self._start_balancer()
        for child in [*self.workers, self.balancer]:
            self._watchers.append(asyncio.create_task(self._watch(child), name=child.name))

    def ready_line(self) -> dict[str, Any]:
        """The parent's ready line: the front's address, and who is behind it."""
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        base = f"http://{host}:{self.front_port}"
        first = self.workers[0].ready
        return {
            "listening": f"ws://{host}:{self.front_port}/v1/realtime",
            "http": base + "/v1",
            "healthz": base + "/healthz",
            "pid": os.getpid(),
            "workers": [{"id": w.name, "pid": _pid(w), "port": w.port} for w in self.workers],
            "haproxy": {"pid": _pid(self.balancer), "runtime": str(self.runtime)},
            **{k: first.get(k) for k in ("tts", "voice", "stt")},
            **({"token": self.token} if self.token else {}),
        }

    async def stop(self) -> None:
        """Drain every worker (answers in flight finish), then stop HAProxy."""
        self.stopping = True
        for task in self._watchers:
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        await asyncio.gather(*(self._drain(w) for w in self.workers))
        await _terminate(self.balancer, KILL_MARGIN_S)
        # Whatever HAProxy left there (its socket, a stale one after a kill) goes with it.
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    async def _drain(self, worker: Child) -> None:
        await _terminate(worker, self.settings.drain_grace + KILL_MARGIN_S)

    def _worker_command(self, worker: Child) -> list[str]:
        # Later flags win in argparse: the user's own flags, then what makes this a worker.
        return [
            sys.executable, "-m", "server", *self.argv,
            "--workers", "1", "--worker-id", worker.name,
            "--host", "127.0.0.1", "--port", str(worker.port),
            "--front-host", self.settings.host,
        ]  # fmt: skip

    async def _start_worker(self, worker: Child) -> None:
        env = dict(os.environ)
        if self.token is not None:
            env["TALKTERM_TOKEN"] = self.token  # the environment: never shown by ps
        proc = await asyncio.create_subprocess_exec(
            *self._worker_command(worker), env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent,
            # Its own session: a terminal's Ctrl-C or a group-wide SIGTERM reaches only this
            # parent, which drains the workers; die_with_parent still covers our death.
            start_new_session=True,
        )  # fmt: skip
        worker.proc = proc
        assert proc.stdout is not None
        try:
            worker.ready, worker.port = await _read_ready(worker.name, proc)
        except BaseException:  # a failure, or start() cancelling it: no process left behind
            if proc.returncode is None:
                proc.kill()
                await asyncio.shield(proc.wait())
            raise
        log.info("worker %s (pid %d) on 127.0.0.1:%d", worker.name, proc.pid, worker.port)
        # Read on: a worker that fills its stdout pipe (64 KiB) would block for ever.
        task = asyncio.create_task(_forward(worker.name, proc.stdout), name=f"{worker.name} out")
        self._outputs.add(task)
        task.add_done_callback(self._outputs.discard)

    async def _mark_down(self, worker: Child) -> None:
        """Tell HAProxy at once (its checks would take a second or more): its connections
        are closed, and it comes UP again when the new worker answers its checks."""
        command = f"set server {haproxy.BACKEND}/{worker.name} health down"
        try:
            await haproxy.ask(self.runtime, command)
        except (OSError, TimeoutError) as exc:
            log.warning("could not tell HAProxy that %s is down: %s", worker.name, exc)

    async def _start_balancer(self) -> None:
        self.balancer.proc = await haproxy.start(self.config, die_with_parent)
        await _wait_listening(self.settings.host, self.front_port, self.balancer)

    async def _watch(self, child: Child) -> None:
        """Start ``child`` again whenever it exits, backing off while it keeps dying."""
        loop = asyncio.get_running_loop()
        while True:
            assert child.proc is not None
            started = loop.time()
            code = await child.proc.wait()
            if self.stopping:
                return
            if child is not self.balancer:
                await self._mark_down(child)
            if loop.time() - started > STEADY_S:
                child.restarts = 0
            wait = BACKOFF_S[min(child.restarts, len(BACKOFF_S) - 1)]
            child.restarts += 1
            log.warning(
                "%s (pid %d) exited with %s; starting it again in %g s",
                child.name, child.proc.pid, code, wait,
            )  # fmt: skip
            await asyncio.sleep(wait)
            try:
                if child is self.balancer:
                    await self._start_balancer()
                else:
                    await self._start_worker(child)
            except (OSError, WorkerFailed) as exc:
                log.warning("%s did not start again: %s", child.name, exc)


async def _read_ready(name: str, proc: asyncio.subprocess.Process) -> tuple[dict[str, Any], int]:
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT_S)
    except TimeoutError:
        raise WorkerFailed(f"worker {name} was not ready within {READY_TIMEOUT_S:g} s") from None
    if not line:
        code = await proc.wait()
        raise WorkerFailed(f"worker {name} exited ({code}) before it was ready; its log is above")
    return parse_ready(name, line)


def parse_ready(name: str, line: bytes) -> tuple[dict[str, Any], int]:
    """A worker's ready line and the port it says it listens on; WorkerFailed in plain words
    when its first line is anything else."""
    try:
        ready = json.loads(line)
        port = urlsplit(ready["listening"]).port
    except (ValueError, KeyError, TypeError, AttributeError):
        port = None
    if not port:
        shown = line[:200].decode(errors="replace").strip()
        raise WorkerFailed(f"worker {name} printed {shown!r} instead of its ready line")
    return ready, port


async def _forward(name: str, stdout: asyncio.StreamReader) -> None:
    """A ready worker's later stdout, into our log, until it exits."""
    # read(), not readline(): a line longer than the reader's limit must not stop the reading.
    while chunk := await stdout.read(1 << 16):
        log.info("%s stdout: %s", name, chunk.decode(errors="replace").rstrip())


def _first(failed: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that stopped a TaskGroup (the others are the cancellations it caused)."""
    for exc in failed.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return failed


def _find_prctl() -> Any:
    # Looked up here, in the parent, once: between fork and exec (where die_with_parent runs)
    # loading a library or taking its locks may deadlock when other threads held them.
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL = _find_prctl()
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before exec: SIGTERM when the parent dies, even by SIGKILL, so no worker
    or HAProxy outlives its supervisor (Linux prctl PR_SET_PDEATHSIG; elsewhere nothing)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _pid(child: Child) -> int | None:
    return child.proc.pid if child.proc is not None else None


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def _terminate(child: Child, within: float) -> None:
    proc = child.proc
    if proc is None or proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), within)
    except TimeoutError:
        log.warning("%s did not stop within %g s; killing it", child.name, within)
        proc.kill()
        await proc.wait()


async def _wait_listening(host: str, port: int, child: Child, timeout: float = 10.0) -> None:
    dial = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    async with asyncio.timeout(timeout):
        while True:
            assert child.proc is not None
            if child.proc.returncode is not None:
                raise OSError(f"HAProxy exited ({child.proc.returncode}) before listening")
            try:
                _, writer = await asyncio.open_connection(dial, port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            return


async def serve(settings: Settings, argv: list[str], token: str | None) -> None:
    """Run the workers and HAProxy until SIGTERM or SIGINT; then drain and return."""
    stop = asyncio.Event()
    supervisor = Supervisor(settings, argv, token)

    def stopping() -> None:
        # At once: the workers' and HAProxy's exits from here on are the drain, not crashes.
        supervisor.stopping = True
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping)
    try:
        await supervisor.start()
        print(json.dumps(supervisor.ready_line()), flush=True)
        log.info(
            "%d workers behind HAProxy on port %d", len(supervisor.workers), supervisor.front_port
        )
        await stop.wait()
        log.info("draining %d workers", len(supervisor.workers))
    finally:
        await supervisor.stop()
