"""Several small httpx pools behind one ``stream()``: what a client for many concurrent
streams to one upstream needs.

httpcore runs a pass over every connection of its pool each time a request starts or ends
(``AsyncConnectionPool._assign_requests_to_connections``), so with one pool of ~2,000
connections that pass took 31 % of the server's samples at 1,000 speaking sessions
(docs/reliability.md). Shards of at most ``SHARD_SIZE`` connections make each pass that much
shorter; a stream goes to the shard with the fewest streams, so the shards fill evenly and
the total stays ``max_connections``.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

SHARD_SIZE = 64
"""Connections per pool: a pass over 64 costs little; 16 pools carry 1,000 streams."""
KEEPALIVE = 64
"""Idle connections kept across all shards, as one pool kept before."""


Make = Callable[[httpx.Limits, ssl.SSLContext], httpx.AsyncClient]
"""Builds one shard's client from its limits and the TLS context all shards share."""


def shard_sizes(max_connections: int) -> list[int]:
    """Pools of at most ``SHARD_SIZE`` whose sizes add up to exactly ``max_connections``
    (1,000 → 16 pools of 62 or 63), as even as they can be."""
    total = max(1, max_connections)
    count = math.ceil(total / SHARD_SIZE)
    size, extra = divmod(total, count)
    return [size + 1] * extra + [size] * (count - extra)


class PoolShards:
    """``max_connections`` to one upstream as pools of up to ``SHARD_SIZE``, made as needed."""

    def __init__(self, make: Make, max_connections: int) -> None:
        self._make = make
        # One TLS context for all: building one reads the CA bundle, 20 ms of the event
        # loop's time each (4 % of the 1,000-session profile when every shard made its own).
        self._tls: ssl.SSLContext | None = None
        self.sizes = shard_sizes(max_connections)
        count = len(self.sizes)
        self._limits = [
            httpx.Limits(
                max_connections=size,
                max_keepalive_connections=max(1, min(size, KEEPALIVE // count)),
            )
            for size in self.sizes
        ]
        self._clients: list[httpx.AsyncClient | None] = [None] * count
        self._streams = [0] * count

    @property
    def first(self) -> httpx.AsyncClient:
        """One client, for the odd small request (model list, probes)."""
        return self._client(0)

    @asynccontextmanager
    async def stream(self, method: str, url: str, **options: Any) -> AsyncIterator[httpx.Response]:
        """``httpx.AsyncClient.stream`` on the least busy shard."""
        index = min(range(len(self._streams)), key=self._streams.__getitem__)
        self._streams[index] += 1
        try:
            async with self._client(index).stream(method, url, **options) as response:
                yield response
        finally:
            self._streams[index] -= 1

    async def aclose(self) -> None:
        """Close every pool made."""
        for client in self._clients:
            if client is not None:
                await client.aclose()

    def _client(self, index: int) -> httpx.AsyncClient:
        client = self._clients[index]
        if client is None:
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            client = self._clients[index] = self._make(self._limits[index], self._tls)
        return client
