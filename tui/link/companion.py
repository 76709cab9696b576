"""Start and stop the companion server talkterm runs for itself.

The server is ``sys.executable -m server --host 127.0.0.1 --port 0`` with a
fresh random token handed over in its environment (argv would show it in
``ps``). It prints one JSON line when it listens; we then wait until
``/healthz`` answers. It must never outlive us: a clean exit terminates it,
``atexit`` covers an exception, and on Linux the kernel sends it SIGTERM
when we die (``PR_SET_PDEATHSIG``), which covers SIGKILL and a closed terminal.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import secrets
import signal
import sys
from collections import deque
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from tui.errors import CompanionError

log = logging.getLogger("talkterm.companion")
server_log = logging.getLogger("talkterm.companion.server")

_PR_SET_PDEATHSIG = 1


def _death_signal_setter() -> Callable[[], None] | None:
    """A preexec function asking the kernel to SIGTERM the child when we die (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    # Resolved here, before fork: the child must only make the call.
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl
    parent = os.getpid()

    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        # We may have died between fork and prctl; then nobody would signal us.
        if os.getppid() != parent:
            os._exit(1)

    return set_death_signal


class Companion:
    """A running companion server: its URL, token and process."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, token: str) -> None:
        self.process = process
        self.url = url
        self.token = token
        self._stderr_task: asyncio.Task[None] | None = None
        self.last_lines: deque[str] = deque(maxlen=5)
        atexit.register(self._kill_at_exit)

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.returncode is None

    @classmethod
    async def start(
        cls, *, ready_within: float = 15.0, extra_env: Mapping[str, str] | None = None
    ) -> Companion:
        """Spawn the server, wait for its ready line and a healthy /healthz."""
        token = secrets.token_urlsafe(24)
        env = dict(os.environ)
        env.update({f"TALKTERM_{k.upper()}": str(v) for k, v in (extra_env or {}).items()})
        env["TALKTERM_TOKEN"] = token
        env["PYTHONUNBUFFERED"] = "1"
        argv = [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0"]
        log.info("starting companion server: %s", " ".join(argv))
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            preexec_fn=_death_signal_setter(),
        )
        companion = cls(process, "", token)
        companion._stderr_task = asyncio.create_task(companion._pump_stderr())
        try:
            async with asyncio.timeout(ready_within):
                ready = await companion._read_ready_line()
                companion.url = ready["listening"]
                await wait_healthy(ready["healthz"])
        except TimeoutError:
            await companion.stop()
            raise CompanionError(
                f"The companion server did not start within {ready_within:.0f} s."
            ) from None
        except BaseException:
            await companion.stop()
            raise
        log.info("companion server pid %s listening on %s", process.pid, companion.url)
        return companion

    async def _read_ready_line(self) -> dict[str, str]:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            await self.process.wait()
            # Let the stderr pump catch up so the reason is in last_lines.
            if self._stderr_task is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._stderr_task), 1.0)
            reason = self.last_lines[-1] if self.last_lines else "no output"
            raise CompanionError(
                f"The companion server exited (code {self.process.returncode}): {reason}"
            )
        try:
            ready = json.loads(line)
            return {"listening": str(ready["listening"]), "healthz": str(ready["healthz"])}
        except (ValueError, KeyError, TypeError):
            raise CompanionError(
                f"The companion server said something unexpected: {line!r}"
            ) from None

    async def _pump_stderr(self) -> None:
        """Server log lines go to our log file, never to the screen."""
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self.last_lines.append(line)
                server_log.info("%s", line)

    async def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
        atexit.unregister(self._kill_at_exit)
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                log.warning("companion server ignored SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        if self._stderr_task is not None:
            self._stderr_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stderr_task
        log.info("companion server stopped (code %s)", self.process.returncode)

    def _kill_at_exit(self) -> None:
        # The event loop may be gone by now: signal by pid, no awaiting.
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)


async def wait_healthy(url: str, *, interval: float = 0.05) -> None:
    """Poll ``GET url`` until it answers 200 (cancel from outside to give up)."""
    while True:
        if await http_status(url) == 200:
            return
        await asyncio.sleep(interval)


async def http_status(url: str, within: float = 2.0) -> int | None:
    """The status code of a plain HTTP/1.1 GET, or None if nothing answers."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                path = parts.path or "/"
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return None
    fields = status_line.split()
    return int(fields[1]) if len(fields) >= 2 and fields[1].isdigit() else None


class CompanionEndpoint:
    """A connection endpoint backed by a companion server, (re)started when needed."""

    def __init__(self, *, ready_within: float = 15.0, extra_env: Mapping[str, str] | None = None):
        self._ready_within = ready_within
        self._extra_env = dict(extra_env or {})
        self.companion: Companion | None = None

    async def __call__(self) -> tuple[str, str | None]:
        """The URL and token of a running companion server; starts one if none is alive."""
        if self.companion is None or not self.companion.alive:
            if self.companion is not None:
                await self.companion.stop()
            self.companion = None
            self.companion = await Companion.start(
                ready_within=self._ready_within, extra_env=self._extra_env
            )
        return self.companion.url, self.companion.token

    async def aclose(self) -> None:
        """Stop the companion server, if one runs."""
        if self.companion is not None:
            await self.companion.stop()
