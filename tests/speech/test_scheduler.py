"""The deadline pool Piper runs on: the audio needed soonest is made first."""

from __future__ import annotations

import asyncio
import functools
import threading

import pytest

from server.speech.scheduler import DeadlinePool, due_now, speech_due


@pytest.fixture
def pool() -> DeadlinePool:
    """One worker, like Piper's default (one run at a time on every core)."""
    return DeadlinePool(1, "test-pool")


async def occupy(pool: DeadlinePool) -> tuple[threading.Event, asyncio.Future[None]]:
    """Keep the only worker busy until the returned event is set."""
    release, started = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    busy = asyncio.ensure_future(pool.run(0.0, hold))
    await asyncio.to_thread(started.wait, 10)
    return release, busy


async def test_earliest_deadline_runs_first_whatever_the_arrival_order(
    pool: DeadlinePool,
) -> None:
    release, busy = await occupy(pool)
    order: list[str] = []
    # A session's look-ahead sentence arrives first; another's first clause is due sooner.
    runs = [
        asyncio.ensure_future(pool.run(due, functools.partial(order.append, name)))
        for due, name in [(30.0, "look-ahead"), (10.0, "first clause"), (20.0, "running dry")]
    ]
    await asyncio.sleep(0)  # all queued while the worker is busy
    release.set()
    await asyncio.gather(busy, *runs)
    assert order == ["first clause", "running dry", "look-ahead"]
    pool.shutdown()


async def test_a_cancelled_run_never_starts_and_errors_reach_the_caller(
    pool: DeadlinePool,
) -> None:
    release, busy = await occupy(pool)
    ran: list[str] = []
    dropped = asyncio.ensure_future(pool.run(1.0, lambda: ran.append("dropped")))
    await asyncio.sleep(0)
    dropped.cancel()
    release.set()
    await busy
    with pytest.raises(ZeroDivisionError):
        await pool.run(2.0, lambda: 1 / 0)
    await pool.idle()
    assert ran == [] and dropped.cancelled()
    pool.shutdown()


async def test_a_request_without_a_deadline_is_due_now() -> None:
    assert abs(due_now() - asyncio.get_running_loop().time()) < 1.0
    token = speech_due.set(123.0)
    assert due_now() == 123.0
    speech_due.reset(token)
