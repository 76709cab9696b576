"""Server-wide synthesis slots: bounded, and fair to a session that just asked."""

from __future__ import annotations

import asyncio

from server.speech.slots import SynthesisSlots


async def test_a_newcomer_goes_before_the_lookahead_of_a_busy_session() -> None:
    slots = SynthesisSlots(2)
    order: list[str] = []
    release = asyncio.Event()

    async def job(owner: str) -> None:
        async with slots.hold(owner):
            order.append(owner)
            await release.wait()

    busy = [asyncio.create_task(job("busy")) for _ in range(4)]
    await asyncio.sleep(0)
    newcomer = asyncio.create_task(job("newcomer"))
    await asyncio.sleep(0)
    assert order == ["busy", "busy"] and slots.busy == 2  # never more than the bound
    release.set()
    await asyncio.gather(*busy, newcomer)
    # The first slot freed went to the session running nothing, not to the 3rd busy job.
    assert order[2] == "newcomer"


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    slots = SynthesisSlots(1)
    async with slots.hold("a"):
        waiting = asyncio.create_task(slots.hold("b").__aenter__())
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
    async with slots.hold("c"):
        assert slots.busy == 1
    assert slots.busy == 0


async def test_a_stop_that_cancels_holder_and_waiter_together_loses_no_slot() -> None:
    """Stop cancels the synthesis holding the slot and the one waiting for it in one step."""
    slots = SynthesisSlots(1)
    started = asyncio.Event()

    async def job(owner: str) -> None:
        async with slots.hold(owner):
            started.set()
            await asyncio.Event().wait()

    holder = asyncio.create_task(job("a"))
    await started.wait()
    waiter = asyncio.create_task(job("a"))
    await asyncio.sleep(0)
    holder.cancel()
    waiter.cancel()
    await asyncio.gather(holder, waiter, return_exceptions=True)
    assert slots.busy == 0
    async with asyncio.timeout(1):  # the slot is free for the next answer
        async with slots.hold("b"):
            assert slots.busy == 1
