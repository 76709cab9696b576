"""Hostile HTTP clients and a hostile upstream, for bench/hostile.py.

Each attack has the signature of hostile.py's: ``(url, fake, keep)``; it keeps what it
opened in ``keep`` (a ``Held`` per connection, or a string the table shows as a note).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from server import protocol as p
from tests.fakes.endless_upstream import endless
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.client import Client

Attack = Callable[[str, FakeLLM, list[Any]], Awaitable[None]]
SPEECH = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"}}


@dataclass
class Held:
    """One attacking HTTP connection."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def dropped(self, within: float = 3.0) -> bool:
        """Whether the server closed it: read what is left until EOF, a reset, or ``within``."""
        try:
            async with asyncio.timeout(within):
                while await self.reader.read(1 << 20):
                    pass
        except TimeoutError:
            return False
        except OSError:
            return True
        return True

    def close(self) -> None:
        """Hang up at once."""
        self.writer.transport.abort()


def _port(url: str) -> int:
    return int(url.removeprefix("ws://").split("/")[0].rsplit(":", 1)[1])


async def _connect(url: str, window: int | None = 4096) -> Held:
    sock = socket.socket()
    if window is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, window)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", _port(url)))
    reader, writer = await asyncio.open_connection(sock=sock)
    return Held(reader, writer)


def _post(body: bytes, length: int | None = None) -> bytes:
    return (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length or len(body)}\r\n\r\n"
    ).encode() + body


def _ask(speech: bool) -> bytes:
    body: dict[str, Any] = {
        "model": "x",
        "stream": True,
        "messages": [{"role": "user", "content": "Talk for ever"}],
    }
    return json.dumps(body | (SPEECH if speech else {})).encode()


async def _all_asked(fake: FakeLLM, count: int) -> None:
    """Wait until the upstream has had ``count`` more requests, so no endless reply is left
    queued for the bystander."""
    wanted = len(fake.chat_requests) + count
    for _ in range(600):  # a minute at most
        if len(fake.chat_requests) >= wanted:
            return
        await asyncio.sleep(0.1)


async def http_streams_stop_reading(url: str, fake: FakeLLM, keep: list[Any]) -> None:
    """20 spoken HTTP streams of an endless answer, never read (4 KiB receive windows)."""
    for _ in range(20):
        fake.enqueue(Reply(chunks=endless()))
        held = await _connect(url)
        held.writer.write(_post(_ask(speech=True)))
        keep.append(held)
    await _all_asked(fake, 20)


async def http_spoken_streams_read(url: str, fake: FakeLLM, keep: list[Any]) -> None:
    """20 spoken HTTP streams of an endless answer, each read as fast as it comes."""

    async def read_all(held: Held) -> None:
        try:
            while await held.reader.read(1 << 20):
                pass
        finally:
            held.close()

    for _ in range(20):
        fake.enqueue(Reply(chunks=endless()))
        held = await _connect(url, window=None)
        held.writer.write(_post(_ask(speech=True)))
        keep.append(asyncio.create_task(read_all(held)))
    await _all_asked(fake, 20)


async def http_bodies_stall(url: str, fake: FakeLLM, keep: list[Any]) -> None:
    """150 connections each send 4 MiB - 1 byte of a 4 MiB body, then stall."""
    size = 4 << 20
    for _ in range(150):
        held = await _connect(url, window=None)
        held.writer.write(_post(b" " * (size - 1), length=size))
        with contextlib.suppress(OSError):
            await held.writer.drain()
        keep.append(held)


async def http_streams_hang_up(url: str, fake: FakeLLM, keep: list[Any]) -> None:
    """50 text streams of an endless answer, read for 3 s, then all hung up at once."""
    opened = []
    for _ in range(50):
        fake.enqueue(Reply(chunks=endless()))
        held = await _connect(url, window=None)
        held.writer.write(_post(_ask(speech=False)))
        opened.append(held)

    async def read_a_while(held: Held) -> None:
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(3):
                while await held.reader.read(65536):
                    pass

    await _all_asked(fake, 50)
    await asyncio.gather(*(read_a_while(h) for h in opened))
    for held in opened:
        sock = held.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        held.close()
    keep.append("50 hung up")


async def upstream_probes_misbehave(url: str, fake: FakeLLM, keep: list[Any]) -> None:
    """The upstream's /props never ends and its /api/show trickles for 12 s; a client asks."""
    fake.probe_faults = {"/props": "endless", "/api/show": "trickle"}
    client = await Client.open(url)
    fake.enqueue(Reply(chunks=["First ", "words."]))
    asked = time.perf_counter()
    await client.ask("hello", output_modalities=["text"])
    await client.read_until(p.TEXT_DELTA, timeout=60)
    keep.append(f"first word after {time.perf_counter() - asked:.2f} s")
    await client.close()


HTTP_ATTACKS: dict[str, Attack] = {
    "20 spoken HTTP streams stop reading": http_streams_stop_reading,
    "20 spoken HTTP streams read": http_spoken_streams_read,
    "150 HTTP bodies stall at 4 MiB - 1": http_bodies_stall,
    "50 HTTP streams hang up at once": http_streams_hang_up,
    "upstream /props endless, /api/show trickles": upstream_probes_misbehave,
}
