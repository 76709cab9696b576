"""Where a session's events go: numbered, remembered, and sent to whichever
connection the session currently has (none while the client is away).

Every event gets ``seq`` (1, 2, 3 … per session) and is kept in the replay
buffer before it is sent, so a client that reconnects with the last ``seq`` it
processed gets everything after it, in order, exactly once.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from server import protocol as p
from server.session.replay import ReplayBuffer


class Outlet:
    """Numbers, buffers and delivers one session's frames."""

    def __init__(self, replay_bytes: int) -> None:
        self.ws: ServerConnection | None = None
        self.binary_audio = False
        self.buffer = ReplayBuffer(replay_bytes)
        self._seq = 0
        # One writer at a time, so frames reach the socket in seq order.
        self._wire = asyncio.Lock()

    async def send(self, event: dict[str, Any]) -> None:
        """Number, remember and (if connected) send one event.

        An audio delta whose ``delta`` is raw bytes goes out as a binary frame
        when the client asked for that, else base64 in JSON.
        """
        async with self._wire:
            self._seq += 1
            frame = self._encode({**event, "seq": self._seq})
            self.buffer.append(self._seq, frame)
            await self._write(frame)

    async def attach(
        self, ws: ServerConnection, last_seen: int | None, hello: dict[str, Any]
    ) -> None:
        """Make ``ws`` the session's connection; replay what it missed after ``hello``.

        Raises ResumeRefused (before anything is sent) when the missed events are gone.
        """
        async with self._wire:
            missed = self.buffer.since(last_seen) if last_seen is not None else []
            self.ws = ws
            await self._write(p.encode(hello | {"replayed": len(missed)}))
            for frame in missed:
                await self._write(frame)

    def attach_new(self, ws: ServerConnection) -> None:
        """Give a brand-new session its first connection."""
        self.ws = ws

    def detach(self, ws: ServerConnection) -> None:
        """Forget ``ws`` if it is still the current connection."""
        if self.ws is ws:
            self.ws = None

    async def _write(self, frame: str | bytes) -> None:
        ws = self.ws
        if ws is None:
            return
        try:
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
