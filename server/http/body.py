"""A request body, read under a byte cap and a deadline.

A body that trickles or stalls would otherwise hold its connection and up to
the cap in memory for ever (200 stalled 4 MiB bodies held almost 1 GB); the
deadline ends it with 408 and a closed connection, and all bodies being received
share one byte budget (503 past it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from server.http.errors import BadRequest, Busy, RequestTimeout

Receive = Callable[[], Awaitable[dict[str, Any]]]


class BodiesOverBudget(Busy):
    """503: bodies being received together would pass their byte budget."""

    def headers(self) -> dict[str, str]:
        """The rest of this body is not wanted: close rather than read it."""
        return {"Connection": "close", "Retry-After": "1"}


class BodyBudget:
    """Bytes of request bodies held at once, all requests together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> None:
        """Count ``size`` more bytes; Busy (503) past the limit."""
        if self.held + size > self.limit:
            raise BodiesOverBudget(
                "The server is receiving too many large requests at once; try again shortly.",
                code="bodies_over_budget",
            )
        self.held += size


async def read_body(
    receive: Receive, max_bytes: int, deadline: float, budget: BodyBudget
) -> bytes:
    """The whole body; BadRequest past ``max_bytes``, RequestTimeout past ``deadline`` s,
    Busy when all bodies being received together would pass ``budget``."""
    body = bytearray()
    try:
        async with asyncio.timeout(deadline):
            await _read(receive, max_bytes, budget, body)
    except TimeoutError:
        raise RequestTimeout(
            f"The request body did not arrive within {deadline:g} s.", code="body_timeout"
        ) from None
    finally:
        budget.held -= len(body)
    return bytes(body)


async def _read(receive: Receive, max_bytes: int, budget: BodyBudget, body: bytearray) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client closed the request before its body arrived.")
        piece = message.get("body", b"")
        budget.take(len(piece))
        body += piece
        if len(body) > max_bytes:
            raise BadRequest(f"The request body exceeds {max_bytes >> 20} MiB.")
        if not message.get("more_body", False):
            return
