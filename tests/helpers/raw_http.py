"""Plain TCP HTTP clients for tests that must misbehave: stall with a tiny receive window,
or read a streamed answer only when the test says so."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from server.app import Server


async def open_raw(
    server: Server, *, receive_buffer: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A plain TCP connection (optionally with a small receive buffer: a client not reading)."""
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    return await asyncio.open_connection(sock=sock)


def post_head(length: int) -> bytes:
    """The head of a chat completions POST whose JSON body is ``length`` bytes."""
    return (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def chat_post(body: dict[str, Any]) -> bytes:
    """A whole chat completions POST."""
    data = json.dumps(body).encode()
    return post_head(len(data)) + data


async def read_stream(reader: asyncio.StreamReader, timeout: float = 30.0) -> list[Any]:
    """Read one chunked SSE answer to its end; its ``data:`` payloads ("[DONE]" as is)."""
    raw = b""
    async with asyncio.timeout(timeout):
        while not raw.endswith(b"\r\n0\r\n\r\n"):
            piece = await reader.read(1 << 20)
            if not piece:
                break
            raw += piece
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    events: list[Any] = []
    for line in _unchunked(body).split(b"\n"):
        if line.startswith(b"data: "):
            data = line.removeprefix(b"data: ")
            events.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return events


def _unchunked(body: bytes) -> bytes:
    """The payload of a chunked body."""
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)
