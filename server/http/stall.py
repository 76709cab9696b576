"""HTTP answers held to the WebSocket's bounds on the way out.

A client that stops reading must not hold an answer for ever: every write of
an answer may wait ``timeout`` seconds for room (the WebSocket's stalled-write
timeout), then the connection is aborted, which frees its buffers, closes the
upstream request (the answer's watcher hears the hang-up) and frees its slot.

What one connection can hold is bounded too: the kernel send buffer of every
accepted socket is set small (Linux otherwise grows it to 4 MiB before asyncio
sees any back-pressure), and asyncio's own buffer stops at its high-water mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from typing import Any

# 64 KiB asked (Linux doubles it): 1.3 s of 24 kHz PCM, base64 in JSON, in flight.
SEND_BUFFER_BYTES = 64 << 10
TRANSPORT_KEY = "talkterm.transport"

Send = Callable[[dict[str, Any]], Awaitable[None]]


class ClientStalled(Exception):
    """A write made no progress for the stalled-write timeout; the connection is aborted."""


class ClientGone(Exception):
    """The client hung up: nothing more is written (asyncio warns after five writes to a
    lost connection, which a tight stream reaches before the hang-up is reported)."""


def shrink_send_buffer(transport: asyncio.BaseTransport) -> None:
    """Cap the kernel's send buffer of an accepted socket (what a non-reader can hold)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)


def remember_transport(scope: dict[str, Any], transport: asyncio.BaseTransport) -> None:
    """Keep the connection's transport in the request's scope, so an answer can abort it."""
    scope.setdefault("extensions", {})[TRANSPORT_KEY] = transport


def abort(scope: dict[str, Any]) -> None:
    """Drop the request's connection now, buffers and all."""
    transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
    if isinstance(transport, asyncio.Transport):
        transport.abort()


def guarded_send(send: Send, scope: dict[str, Any], timeout: float | None) -> Send:
    """``send`` that stops at a hang-up (ClientGone) and gives up, aborting the connection,
    after ``timeout`` s without room (ClientStalled)."""
    transport = scope.get("extensions", {}).get(TRANSPORT_KEY)

    async def send_or_abort(message: dict[str, Any]) -> None:
        if transport is not None and transport.is_closing():
            raise ClientGone
        try:
            async with asyncio.timeout(timeout):
                await send(message)
        except TimeoutError:
            abort(scope)
            raise ClientStalled from None

    return send_or_abort
