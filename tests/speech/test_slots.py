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
