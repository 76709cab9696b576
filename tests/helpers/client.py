"""A small Realtime client for tests: send events, read events and audio frames."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Self

from websockets.asyncio.client import ClientConnection, connect

from server import protocol as p


@dataclass
class Received:
    """Everything one response delivered, in arrival order."""

    events: list[dict[str, Any]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    binary_frames: int = 0

    def of(self, kind: str) -> list[dict[str, Any]]:
        """Events of one type."""
        return [e for e in self.events if e["type"] == kind]

    def text(self) -> str:
        """The streamed text (transcript or text deltas) joined."""
        kinds = (p.TEXT_DELTA, p.TRANSCRIPT_DELTA)
        return "".join(e["delta"] for e in self.events if e["type"] in kinds)

    def types(self) -> list[str]:
        """Event types in order."""
        return [e["type"] for e in self.events]

    @property
    def done(self) -> dict[str, Any]:
        """The response.done event's response object."""
        return self.of(p.RESPONSE_DONE)[-1]["response"]


class Client:
    """A thin wrapper over a websockets connection speaking our protocol."""

    session: dict[str, Any]
    """The greeting (``session.created`` or ``session.resumed``) the server sent."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(
        cls,
        url: str,
        token: str | None = None,
        expect: str = p.SESSION_CREATED,
        extensions: bool = False,
        **kw: Any,
    ) -> Self:
        """Connect and consume the greeting (session.created, or session.resumed).

        ``extensions``: ask for talkterm's extension events (segments, notices), as the
        app does, and consume the ``session.updated`` that answers.
        """
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        ws = await connect(url, additional_headers=headers, **({"max_size": None} | kw))
        client = cls(ws)
        client.session = await client.expect(expect)
        if extensions:
            await client.send(
                {"type": p.SESSION_UPDATE, "session": {"talkterm": {"extensions": True}}}
            )
            await client.expect(p.SESSION_UPDATED)
        return client

    async def close(self) -> None:
        """Close the connection."""
        await self.ws.close()

    async def send(self, event: dict[str, Any] | str | bytes) -> None:
        """Send an event dict, or a raw frame as given."""
        await self.ws.send(json.dumps(event) if isinstance(event, dict) else event)

    async def recv(self, timeout: float | None = 10) -> dict[str, Any] | p.AudioFrame:
        """Next event, or a decoded binary audio frame."""
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        if isinstance(frame, bytes):
            return p.decode_audio_frame(frame)
        return json.loads(frame)

    async def expect(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        """Read until an event of ``kind``; fail on anything else that is an error."""
        while True:
            event = await self.recv(timeout)
            if isinstance(event, dict) and event["type"] == kind:
                return event
            if isinstance(event, dict) and event["type"] == p.ERROR and kind != p.ERROR:
                raise AssertionError(f"unexpected error while waiting for {kind}: {event}")

    async def ask(self, text: str, **response: Any) -> None:
        """Add a user message and request a response."""
        await self.send(p.user_text_item(text))
        await self.expect(p.ITEM_DONE)
        await self.send({"type": p.RESPONSE_CREATE, **({"response": response} if response else {})})

    async def answer(self, text: str, timeout: float = 20, **response: Any) -> Received:
        """Ask ``text`` (with ``response`` options) and read the answer to its response.done."""
        await self.ask(text, **response)
        return await self.collect(timeout=timeout)

    async def read_until(
        self, kind: str, got: Received | None = None, timeout: float = 20
    ) -> Received:
        """Read events (and audio) into ``got`` up to and including one of ``kind``."""
        got = got if got is not None else Received()
        while True:
            event = await self.recv(timeout)
            if isinstance(event, p.AudioFrame):
                got.binary_frames += 1
                got.audio += event.audio
                event = event.header
            elif event["type"] == p.AUDIO_DELTA:
                got.audio += base64.b64decode(event["delta"])
            got.events.append(event)
            if event["type"] == kind:
                return got

    async def collect(self, got: Received | None = None, timeout: float = 20) -> Received:
        """Read one response to its response.done."""
        return await self.read_until(p.RESPONSE_DONE, got, timeout)

    async def quiet_for(self, seconds: float) -> list[Any]:
        """Whatever arrives within ``seconds`` (should usually be nothing)."""
        frames: list[Any] = []
        try:
            while True:
                frames.append(await asyncio.wait_for(self.ws.recv(), seconds))
        except TimeoutError:
            return frames


@asynccontextmanager
async def connected(url: str, token: str | None = None, **kw: Any) -> AsyncIterator[Client]:
    """A client with its greeting read, closed when the block ends (even if it fails)."""
    client = await Client.open(url, token, **kw)
    try:
        yield client
    finally:
        await client.close()


async def answer_once(url: str, text: str, token: str | None = None, **response: Any) -> Received:
    """Open a session, ask ``text``, read the whole answer and close: the answer."""
    async with connected(url, token) as client:
        return await client.answer(text, **response)


def small_window_socket(url: str, window: int = 4096) -> socket.socket:
    """A connected socket with a small receive window: a client that stops reading fills
    the server's buffers after little data, as a stalled phone on a slow link does."""
    host, port = url.removeprefix("ws://").split("/")[0].rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, window)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock
