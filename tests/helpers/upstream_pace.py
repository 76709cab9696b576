"""Watching the fake upstream from a test: has the server stopped reading it, or closed it?

The fake may run on its own loop (``ThreadedFakeLLM``), so these poll instead of waiting
on its events.
"""

from __future__ import annotations

import asyncio
import time

from tests.fakes.endless_upstream import UpstreamMeter
from tests.fakes.llm_upstream import FakeLLM
from tests.helpers.waiting import wait_for


async def upstream_stops(meter: UpstreamMeter, timeout: float = 20.0) -> None:
    """Wait until the server has stopped reading the upstream (no chunk for a whole second)."""
    deadline = time.monotonic() + timeout
    before = meter.chunks
    while True:
        await asyncio.sleep(1.0)
        if meter.chunks == before:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the server still reads the upstream ({meter.chunks} chunks)")
        before = meter.chunks


async def upstream_closed(fake: FakeLLM, count: int = 1, timeout: float = 10.0) -> None:
    """Wait until the server has closed ``count`` upstream requests mid-reply."""
    await wait_for(
        None, lambda: len(fake.disconnected_at) >= count, timeout, what="upstream closed"
    )
