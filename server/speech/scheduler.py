"""Earliest-deadline-first runs on a few worker threads, for engines that share the CPU.

Piper synthesises on a pool smaller than the number of sessions. First come,
first served made a session's next sentence wait behind every other session's,
so a listener heard a gap while the CPU worked on audio nobody needed yet. Here
each run carries the moment its audio must start playing (``speech_due``, set by
the response that asks for it) and the earliest is run first: a new answer's
first clause, or a session about to run dry, goes ahead of sentences that are
only look-ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

speech_due: ContextVar[float | None] = ContextVar("speech_due", default=None)
"""When (``time.monotonic()``) the audio being asked for must start playing, if known."""


def due_now() -> float:
    """The deadline of a request made now: the context's ``speech_due``, else now."""
    due = speech_due.get()
    return time.monotonic() if due is None else due


@dataclass(order=True, slots=True)
class _Run(Generic[T]):
    due: float
    seq: int
    call: Callable[[], T] = field(compare=False)
    future: asyncio.Future[T] = field(compare=False)
    loop: asyncio.AbstractEventLoop = field(compare=False)


class DeadlinePool:
    """Worker threads that always take the queued run with the earliest deadline."""

    def __init__(self, workers: int, name: str) -> None:
        self._queue: list[_Run[Any]] = []
        self._order = itertools.count()
        self._busy = 0
        self._closed = False
        self._changed = threading.Condition()
        for index in range(max(1, workers)):
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True).start()

    async def run(self, due: float, call: Callable[[], T]) -> T:
        """Run ``call`` on a worker once every earlier deadline has had its turn."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._changed:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            heapq.heappush(self._queue, _Run(due, next(self._order), call, future, loop))
            self._changed.notify()
        # A cancelled future is skipped by the worker; one already running finishes.
        return await future

    @property
    def running(self) -> int:
        """How many runs a worker is on now (tests and benches)."""
        with self._changed:
            return self._busy

    async def idle(self) -> None:
        """Return once nothing is queued or running (tests and benches)."""
        await asyncio.to_thread(self._wait_idle)

    def shutdown(self) -> None:
        """Stop the workers after their current runs; queued runs are dropped."""
        with self._changed:
            self._closed = True
            for queued in self._queue:
                queued.loop.call_soon_threadsafe(queued.future.cancel)
            self._queue.clear()
            self._changed.notify_all()

    def _wait_idle(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: not self._queue and not self._busy)

    def _work(self) -> None:
        while (job := self._next()) is not None:
            try:
                if not job.future.cancelled():
                    _call(job)
            finally:
                with self._changed:
                    self._busy -= 1
                    self._changed.notify_all()

    def _next(self) -> _Run[Any] | None:
        with self._changed:
            self._changed.wait_for(lambda: self._queue or self._closed)
            if self._closed:
                return None
            self._busy += 1
            return heapq.heappop(self._queue)


def _call(job: _Run[Any]) -> None:
    """Run the job here and hand its result (or exception) to the loop that awaits it."""
    try:
        outcome: tuple[Any, BaseException | None] = (job.call(), None)
    except BaseException as exc:  # raised in the awaiting coroutine instead
        outcome = (None, exc)
    with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is waiting
        job.loop.call_soon_threadsafe(_resolve, job.future, *outcome)


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
