"""Reading an upstream's answer that is not the answer stream: counted, capped, on a deadline.

The model list, the context probes and error bodies are small by nature; an upstream that
sends one without end (or a byte at a time) must cost at most ``max_bytes`` of memory and
``deadline`` seconds, whatever its per-read pace. A compressed body is refused unread:
we ask for none, and inflating has no limit.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

IDENTITY = {"Accept-Encoding": "identity"}


class ReadRefused(Exception):
    """The body went past its byte cap or its deadline, or came compressed."""


async def read_capped(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    max_bytes: int,
    deadline: float,
    **options: Any,
) -> tuple[int, bytes]:
    """The status and whole body of one request, within ``max_bytes`` and ``deadline`` s.

    Raises ReadRefused past either (the connection is closed at once), httpx errors as
    httpx raises them.
    """
    options["headers"] = IDENTITY | dict(options.get("headers") or {})
    try:
        async with asyncio.timeout(deadline):
            async with client.stream(method, url, **options) as response:
                return response.status_code, await read_body(response, max_bytes)
    except TimeoutError:
        raise ReadRefused(f"{method} {url}: no whole answer within {deadline:g} s") from None


async def read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """A streamed response's body, refused past ``max_bytes`` or when compressed."""
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        raise ReadRefused("the body came compressed although none was asked for")
    body = bytearray()
    async for piece in response.aiter_raw():
        body += piece
        if len(body) > max_bytes:
            raise ReadRefused(f"the body is larger than {max_bytes} bytes")
    return bytes(body)
