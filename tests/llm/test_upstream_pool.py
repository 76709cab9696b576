"""Pools in shards: many concurrent streams to one upstream, each pool small, none lost."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest

from server import upstream_pool
from server.upstream_pool import PoolShards
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.waiting import wait_for

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


async def test_streams_fill_small_pools_evenly_and_the_total_is_the_limit(
    fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_pool, "SHARD_SIZE", 2)
    contexts = 0
    real = httpx.create_ssl_context

    def counted() -> ssl.SSLContext:
        nonlocal contexts
        contexts += 1
        return real()

    monkeypatch.setattr(httpx, "create_ssl_context", counted)
    made: list[httpx.AsyncClient] = []

    def make(limits: httpx.Limits, tls: ssl.SSLContext) -> httpx.AsyncClient:
        made.append(
            httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(5, pool=0.5), verify=tls)
        )
        return made[-1]

    pools = PoolShards(make, max_connections=6)
    hold = asyncio.Event()
    fake_llm.enqueue(*[Reply(chunks=["a", "b"], hold=hold, hold_at=1)] * 6)
    open_streams: list[httpx.Response] = []
    release = asyncio.Event()

    async def one() -> int:
        async with pools.stream("POST", f"{fake_llm.base_url}/chat/completions", json=BODY) as r:
            open_streams.append(r)
            await release.wait()
            return len(await r.aread())

    tasks = [asyncio.create_task(one()) for _ in range(6)]
    await wait_for(None, lambda: len(open_streams) == 6, what="six streams open")
    assert len(made) == 3  # six streams at once, in three pools of two, one TLS context
    assert contexts == 1  # each costs 20 ms of the event loop: made once, shared
    # A seventh finds every pool full: it waits for the pool timeout, as one pool of 6 would.
    with pytest.raises(httpx.PoolTimeout):
        async with pools.stream("POST", f"{fake_llm.base_url}/chat/completions", json=BODY):
            pass
    hold.set()
    release.set()
    assert all(size > 0 for size in await asyncio.gather(*tasks))
    await pools.aclose()


@pytest.mark.parametrize("limit", [1, 2, 63, 64, 65, 100, 1000, 2000, 2049])
def test_the_pools_add_up_to_max_connections_exactly(limit: int) -> None:
    # 1,000 must stay 1,000 connections to the upstream (not 16 pools of 64 = 1,024).
    sizes = upstream_pool.shard_sizes(limit)
    assert sum(sizes) == limit and max(sizes) <= upstream_pool.SHARD_SIZE
    assert max(sizes) - min(sizes) <= 1  # even, so the least-busy choice fills them alike


async def test_each_pool_is_made_with_its_own_share() -> None:
    made: list[int] = []

    def make(limits: httpx.Limits, tls: ssl.SSLContext) -> httpx.AsyncClient:
        assert limits.max_connections is not None
        made.append(limits.max_connections)
        return httpx.AsyncClient(limits=limits, verify=tls)

    pools = PoolShards(make, max_connections=100)
    for index in range(2):
        pools._client(index)
    assert made == [50, 50]
    await pools.aclose()
