"""Hostile LLM replies for the fake upstream: a stream that never ends, as fast as it can.

``endless()`` is a chunk list for ``Reply`` that never runs out, so the fake writes
content for as long as the server reads it, and never closes. ``UpstreamMeter`` watches
how much the fake has written, to tell whether the server still reads the stream.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

from tests.fakes.llm_upstream import FakeLLM

SENTENCE = "The stream goes on and on without an end in sight. "
"""One sentence of the endless reply: short enough to speak, long enough to fill fast."""


class Endless(list[str]):
    """A chunk list that yields ``piece`` for ever (and says it is empty when asked its length)."""

    def __init__(self, piece: str) -> None:
        super().__init__()
        self.piece = piece

    def __iter__(self) -> Iterator[str]:
        return itertools.repeat(self.piece)


def endless(sentences_per_chunk: int = 20) -> Endless:
    """Chunks of ``sentences_per_chunk`` sentences each (≈ 1 KB), for ever."""
    return Endless(SENTENCE * sentences_per_chunk)


class UpstreamMeter:
    """How many content chunks the fake has written: the server's reading pace."""

    def __init__(self, fake: FakeLLM) -> None:
        self._fake = fake

    @property
    def chunks(self) -> int:
        """Chunks written so far."""
        return len(self._fake.chunk_sent_at)


class ThreadedFakeLLM:
    """A ``FakeLLM`` on its own event loop in a thread, as a real upstream is its own process.

    An endless stream written as fast as possible from the server's own loop would starve
    that loop in a way no real upstream can, and hide what the server itself does.
    """

    def __init__(self) -> None:
        self.fake = FakeLLM()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def __aenter__(self) -> FakeLLM:
        self._thread.start()
        await self._call(self.fake.start())
        return self.fake

    async def __aexit__(self, *exc_info: object) -> None:
        await self._call(self.fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join, 5)
        self._loop.close()

    async def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))
