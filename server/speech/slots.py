"""Server-wide synthesis slots, shared fairly across sessions.

Every synthesis (an espeak-ng process, a speech request) takes a slot first. When all
slots are busy, the next free one goes to the waiting owner (session) that runs the fewest
jobs, oldest request first among equals: a session that just asked is not stuck behind
the look-ahead of many others. Before this bound, 100 abandoned sessions ran 198 espeak-ng
processes and a bystander's first audio took 13.6 s (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(order=True)
class _Waiter:
    running: int
    arrival: int
    owner: str = field(compare=False)
    granted: asyncio.Future[None] = field(compare=False)


class SynthesisSlots:
    """At most ``size`` syntheses at once; waiting owners are served fairly."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._running: Counter[str] = Counter()
        self._busy = 0
        self._waiters: list[_Waiter] = []
        self._arrivals = itertools.count()

    @property
    def busy(self) -> int:
        """Slots taken now."""
        return self._busy

    @asynccontextmanager
    async def hold(self, owner: str) -> AsyncIterator[None]:
        """Take a slot for ``owner`` for the duration of the block."""
        await self._acquire(owner)
        try:
            yield
        finally:
            self._release(owner)

    async def _acquire(self, owner: str) -> None:
        if self._busy < self.size and not self._waiters:
            self._grant(owner)
            return
        loop = asyncio.get_running_loop()
        waiter = _Waiter(0, next(self._arrivals), owner, loop.create_future())
        self._waiters.append(waiter)
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.granted.done() and not waiter.granted.cancelled():
                self._release(owner)  # granted just as it was cancelled: give it back
            raise

    def _grant(self, owner: str) -> None:
        self._busy += 1
        self._running[owner] += 1

    def _release(self, owner: str) -> None:
        self._busy -= 1
        self._running[owner] -= 1
        if self._running[owner] <= 0:
            del self._running[owner]
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._busy < self.size:
            for waiter in self._waiters:
                waiter.running = self._running[waiter.owner]
            chosen = min(self._waiters)
            self._waiters.remove(chosen)
            self._grant(chosen.owner)
            chosen.granted.set_result(None)
