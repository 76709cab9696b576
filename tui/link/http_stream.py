"""One HTTP request over asyncio streams, parsed by h11; server-sent events read line by line.

The terminal app speaks HTTP only here, and without httpx (the layering contract):
h11 is the parser uvicorn uses on the server side, a small sans-I/O library.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11

from tui.errors import TalktermAppError

_READ = 65536


class HTTPStatusError(TalktermAppError):
    """The server answered with a status other than 200."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body

    @property
    def message(self) -> str:
        """The OpenAI-shaped error's message, or the status."""
        try:
            return str(json.loads(self.body)["error"]["message"])
        except (ValueError, KeyError, TypeError):
            return f"the server answered HTTP {self.status}"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request goes."""

    host: str
    port: int
    tls: bool
    path: str

    @classmethod
    def of(cls, url: str) -> Target:
        """Split an http(s) URL."""
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        path = parts.path or "/"
        return cls(parts.hostname or "", parts.port or (443 if tls else 80), tls, path)


Content = tuple[str, bytes]
"""A POST body that is not JSON: (its Content-Type, its bytes)."""


async def request(
    url: str,
    token: str | None,
    body: dict[str, Any] | Content | None = None,
    timeout: float = 10.0,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[bytes]:
    """Send GET (no body) or POST (a JSON body, or any content); yield the response body as
    it arrives.

    Raises HTTPStatusError (with the body) for any status but 200, OSError when the
    connection fails or drops before the end of the body. ``tls`` verifies an https://
    server (default: the system's trust store).
    """
    target = Target.of(url)
    context = (tls or ssl.create_default_context()) if target.tls else None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(target.host, target.port, ssl=context),
        timeout,
    )
    try:
        conn = h11.Connection(h11.CLIENT)
        writer.write(_request_bytes(conn, target, token, body))
        await writer.drain()
        status = await _status(conn, reader, timeout)
        if status != 200:
            raise HTTPStatusError(status, b"".join([c async for c in _body(conn, reader)]))
        async for chunk in _body(conn, reader):
            yield chunk
    finally:
        writer.close()  # closing is how an HTTP client says Stop


def _request_bytes(
    conn: h11.Connection, target: Target, token: str | None, body: dict[str, Any] | Content | None
) -> bytes:
    kind, data = body if isinstance(body, tuple) else ("application/json", b"")
    if isinstance(body, dict):
        data = json.dumps(body).encode()
    headers = [("Host", f"{target.host}:{target.port}"), ("Accept", "text/event-stream")]
    if token:
        headers.append(("Authorization", f"Bearer {token}"))
    if body is not None:
        headers += [("Content-Type", kind), ("Content-Length", str(len(data)))]
    method = "GET" if body is None else "POST"
    out = conn.send(h11.Request(method=method, target=target.path, headers=headers)) or b""
    if data:
        out += conn.send(h11.Data(data=data)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")


MAX_LINE = 1 << 20
"""The longest SSE line accepted from a server."""


async def _next(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        # b"" tells h11 the peer closed: the end of a close-delimited body, or a cut.
        conn.receive_data(await reader.read(_READ))


async def _status(conn: h11.Connection, reader: asyncio.StreamReader, timeout: float) -> int:
    try:
        event = await asyncio.wait_for(_next(conn, reader), timeout)
    except h11.RemoteProtocolError as exc:
        raise ConnectionResetError(f"no valid HTTP response ({exc})") from exc
    if not isinstance(event, h11.Response):
        raise ConnectionResetError("the server sent no HTTP response")
    return int(event.status_code)


async def _body(conn: h11.Connection, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        try:
            event = await _next(conn, reader)
        except h11.RemoteProtocolError as exc:
            raise ConnectionResetError(f"the answer was cut off ({exc})") from exc
        if isinstance(event, h11.Data):
            yield bytes(event.data)
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return


async def sse_data(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The ``data:`` payloads of a server-sent event stream (lines up to MAX_LINE bytes)."""
    pending: list[bytes] = []  # the unfinished line, in pieces: no re-copy per chunk
    size = 0
    async for chunk in chunks:
        *ends, rest = chunk.split(b"\n")
        for end in ends:
            line = b"".join([*pending, end])
            pending, size = [], 0
            if line.startswith(b"data:"):
                yield line[5:].strip().decode()
        pending.append(rest)
        size += len(rest)
        if size > MAX_LINE:
            # Our server's biggest event is a 100 ms audio delta (~6 KB of base64).
            raise ConnectionResetError(f"the stream sent a line over {MAX_LINE} bytes")
