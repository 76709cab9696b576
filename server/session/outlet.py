"""Where a session's events go: numbered, remembered, and sent to whichever
connection the session currently has (none while the client is away).

Every event gets ``seq`` (1, 2, 3 … per session) and is kept in the replay
buffer before it is sent, so a client that reconnects with the last ``seq`` it
processed gets everything after it, in order, exactly once.

A write that makes no progress for ``stall_timeout`` seconds (the client stopped
reading) drops the connection: the session then waits for a resume as after any
dropped connection. While no client is connected, answers go on only until the
events kept for the absent client fill half the replay buffer, so a resume never
finds them gone and an abandoned session stops costing work (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from server import protocol as p
from server.session.replay import ReplayBudget, ReplayBuffer

log = logging.getLogger("talkterm.server")


class Outlet:
    """Numbers, buffers and delivers one session's frames."""

    def __init__(
        self,
        replay_bytes: int,
        stall_timeout: float | None = None,
        budget: ReplayBudget | None = None,
    ) -> None:
        self.ws: ServerConnection | None = None
        self.binary_audio = False
        self.extensions = False
        """Whether the client asked for talkterm's extension events (p.is_extension)."""
        self.buffer = ReplayBuffer(replay_bytes, budget)
        self.stall_timeout = stall_timeout
        self.present = asyncio.Event()
        """Set while a client is connected: synthesis waits for it."""
        self._away_bytes = 0
        self._seq = 0
        # One writer at a time, so frames reach the socket in seq order.
        self._wire = asyncio.Lock()

    async def send(self, event: dict[str, Any]) -> None:
        """Number, remember and (if connected) send one event.

        An audio delta whose ``delta`` is raw bytes goes out as a binary frame
        when the client asked for that, else base64 in JSON. An extension event the
        client did not ask for is not sent at all (nor numbered).
        """
        if not self.extensions and p.is_extension(event):
            return
        async with self._wire:
            self._seq += 1
            frame = self._encode({**event, "seq": self._seq})
            self.buffer.append(self._seq, frame)
            if self.ws is None:
                self._away_bytes += len(frame)
            await self._write(frame)

    def accepting(self) -> bool:
        """Whether an answer may send more now: a client is here, or room is kept for one."""
        return self.ws is not None or self._away_bytes < self.buffer.max_bytes // 2

    async def attach(
        self, ws: ServerConnection, last_seen: int | None, hello: dict[str, Any]
    ) -> None:
        """Make ``ws`` the session's connection; replay what it missed after ``hello``.

        Raises ResumeRefused (before anything is sent) when the missed events are gone.
        """
        async with self._wire:
            missed = self.buffer.since(last_seen) if last_seen is not None else []
            self._attached(ws)
            await self._write(p.encode(hello | {"replayed": len(missed)}))
            for frame in missed:
                await self._write(frame)

    def attach_new(self, ws: ServerConnection) -> None:
        """Give a brand-new session its first connection."""
        self._attached(ws)

    def detach(self, ws: ServerConnection) -> None:
        """Forget ``ws`` if it is still the current connection."""
        if self.ws is ws:
            self.ws = None
            self.present.clear()
            self.buffer.detached = True

    def _attached(self, ws: ServerConnection) -> None:
        self.ws = ws
        self._away_bytes = 0
        self.buffer.detached = False
        self.present.set()

    async def _write(self, frame: str | bytes) -> None:
        ws = self.ws
        if ws is None:
            return
        try:
            if self.stall_timeout is None:
                await ws.send(frame)
            else:
                with StallWatch(ws, self.stall_timeout):
                    await ws.send(frame)
        except ConnectionClosed:
            # The frame stays in the replay buffer; a resuming client gets it then.
            self.detach(ws)

    def _encode(self, event: dict[str, Any]) -> str | bytes:
        audio = event.get("delta")
        if not isinstance(audio, bytes | bytearray):
            return p.encode(event)
        header = {k: v for k, v in event.items() if k != "delta"}
        if self.binary_audio:
            header.setdefault("event_id", p.new_id("event"))
            return p.encode_audio_frame(header, bytes(audio))
        return p.encode(header | {"delta": base64.b64encode(audio).decode()})


class StallWatch:
    """Aborts a connection whose pending write makes no progress for ``timeout`` seconds.

    websockets' keepalive cannot notice a client that stopped reading: its ping waits
    behind the full write buffer, so the pong timeout never starts (the issue measured a
    client still connected after 60 s). This timer watches the write itself. Aborting,
    rather than cancelling the send, lets the send end the usual way (ConnectionClosed).
    """

    def __init__(self, ws: ServerConnection, timeout: float) -> None:
        self._ws = ws
        self._timeout = timeout
        self._pending = 0
        self._timer: asyncio.TimerHandle | None = None

    def __enter__(self) -> StallWatch:
        loop = asyncio.get_running_loop()
        # Runs once the send has written its frame and waits: the baseline includes it.
        loop.call_soon(self._baseline)
        self._arm()
        return self

    def _baseline(self) -> None:
        self._pending = self._ws.transport.get_write_buffer_size()

    def __exit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _arm(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._check)

    def _check(self) -> None:
        transport = self._ws.transport
        pending = transport.get_write_buffer_size()
        if pending < self._pending or pending == 0:
            self._pending = pending
            self._arm()  # the client reads, slowly: keep watching
            return
        log.info(
            "dropping a client that read nothing for %g s (%d bytes waiting to be sent)",
            self._timeout,
            pending,
        )
        transport.abort()
