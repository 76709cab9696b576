"""A request body, read under a byte cap and a deadline.

A body that trickles or stalls would otherwise hold its connection and up to
the cap in memory for ever (200 stalled 4 MiB bodies held almost 1 GB); the
deadline ends it with 408 and a closed connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from server.http.errors import BadRequest, RequestTimeout

Receive = Callable[[], Awaitable[dict[str, Any]]]


async def read_body(receive: Receive, max_bytes: int, deadline: float) -> bytes:
    """The whole body; BadRequest past ``max_bytes``, RequestTimeout past ``deadline`` s."""
    try:
        async with asyncio.timeout(deadline):
            return await _read(receive, max_bytes)
    except TimeoutError:
        raise RequestTimeout(
            f"The request body did not arrive within {deadline:g} s.", code="body_timeout"
        ) from None


async def _read(receive: Receive, max_bytes: int) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client closed the request before its body arrived.")
        body += message.get("body", b"")
        if len(body) > max_bytes:
            raise BadRequest(f"The request body exceeds {max_bytes >> 20} MiB.")
        if not message.get("more_body", False):
            return bytes(body)
