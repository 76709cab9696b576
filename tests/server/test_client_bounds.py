"""Clients that hold memory: one that stops reading, pauses for ever, floods the history or
never finishes a message. Each is bounded, and a bystander's answer still arrives on time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from server import protocol as p
from server.app import Server
from tests.fakes.endless_upstream import ThreadedFakeLLM, UpstreamMeter, endless
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.client import Client, connected, small_window_socket
from tests.helpers.memory import settled_rss_mb
from tests.helpers.server import sessions
from tests.helpers.upstream_pace import upstream_stops
from tests.helpers.waiting import wait_for

# Generous bounds: the point is "on time, not frozen" and "bounded, not growing with time".
BYSTANDER_S = 5.0
RSS_GROWTH_MB = 150.0


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    """The fake upstream on its own loop: a fast endless stream must not starve the server's."""
    async with ThreadedFakeLLM() as fake:
        yield fake


async def bystander_answer_s(server: Server, fake_llm: FakeLLM) -> float:
    """Seconds a fresh session waits for a short text answer, ask to response.done."""
    fake_llm.enqueue(Reply(chunks=["I am ", "fine."]))
    async with connected(server.ws_url) as bystander:
        started = time.perf_counter()
        got = await bystander.answer("Are you there?", output_modalities=["text"], timeout=30)
        took = time.perf_counter() - started
    assert got.text() == "I am fine.", got.done
    return took


async def test_a_client_that_stops_reading_is_dropped_and_its_answer_stops(
    fake_llm: FakeLLM, start_server
) -> None:
    # A small replay buffer: what the dropped session may still send (half of it) is small.
    # No token cap: the server would cut the endless answer at 32 KiB (answer_cap.py).
    server = await start_server(
        ping_timeout=1.0, replay_buffer_bytes=1 << 18, max_output_tokens="inf"
    )
    rss_before = settled_rss_mb()
    sock = small_window_socket(server.ws_url)
    attacker = await Client.open(server.ws_url, sock=sock, max_queue=1)
    fake_llm.enqueue(Reply(chunks=endless()))
    await attacker.ask("Talk for ever", output_modalities=["text"])
    await wait_for(None, lambda: fake_llm.chat_requests, what="the attacker's request")
    # From here on the attacker reads nothing.
    (session,) = sessions(server)
    await wait_for(None, lambda: session.outlet.ws is None, timeout=20, what="attacker dropped")
    assert await bystander_answer_s(server, fake_llm) < BYSTANDER_S
    await upstream_stops(UpstreamMeter(fake_llm))
    assert settled_rss_mb() - rss_before < RSS_GROWTH_MB
    # Dropped like any lost connection: the session waits for a resume meanwhile.
    assert session.id in server.services.sessions
    attacker.ws.transport.abort()


async def test_paused_for_ever_holds_a_bounded_answer_then_resumes(
    fake_llm: FakeLLM, start_server
) -> None:
    server = await start_server()
    rss_before = settled_rss_mb()
    attacker = await Client.open(server.ws_url)
    fake_llm.enqueue(Reply(chunks=endless()))
    await attacker.ask("Talk for ever")
    await attacker.read_until(p.RESPONSE_CREATED)
    await attacker.send({"type": p.RESPONSE_PAUSE})
    await attacker.read_until(p.RESPONSE_PAUSED)
    await upstream_stops(UpstreamMeter(fake_llm))
    assert settled_rss_mb() - rss_before < RSS_GROWTH_MB
    assert await bystander_answer_s(server, fake_llm) < BYSTANDER_S
    # Resume: the held answer carries on from where it was, speech included.
    await attacker.send({"type": p.RESPONSE_RESUME})
    got = await attacker.read_until(p.AUDIO_DELTA)
    assert got.of(p.RESPONSE_RESUMED)
    await attacker.send({"type": p.RESPONSE_CANCEL})
    assert (await attacker.collect()).done["status"] == "cancelled"
    await attacker.close()


async def test_a_history_flood_keeps_only_the_newest_history(
    fake_llm: FakeLLM, start_server
) -> None:
    server = await start_server(history_chars=1 << 20)
    attacker = await Client.open(server.ws_url)
    block = "x" * 100_000
    for _ in range(40):  # 4 MB of history
        await attacker.send(p.user_text_item(block))
        await attacker.expect(p.ITEM_DONE)
    fake_llm.enqueue(Reply(chunks=["Noted."]))
    got = await attacker.answer("And now the question", output_modalities=["text"])
    assert got.text() == "Noted."
    messages = fake_llm.chat_requests[-1].json["messages"]
    history = [m for m in messages if m["role"] != "system"]
    assert sum(len(m["content"]) for m in history) <= 1 << 20
    assert history[-1]["content"] == "And now the question"  # the newest user turn stays
    assert await bystander_answer_s(server, fake_llm) < BYSTANDER_S
    await attacker.close()


async def test_a_message_that_never_ends_closes_the_connection(
    fake_llm: FakeLLM, start_server
) -> None:
    server = await start_server(unfinished_message_timeout=0.5)
    attacker = await Client.open(server.ws_url)

    async def fragments():
        while True:
            yield "x" * 1000
            await asyncio.sleep(0.02)

    sending = asyncio.create_task(attacker.ws.send(fragments()))
    await asyncio.wait_for(attacker.ws.wait_closed(), 10)
    sending.cancel()
    assert attacker.ws.close_code == 1008
    assert "not finished" in (attacker.ws.close_reason or "")
    assert await bystander_answer_s(server, fake_llm) < BYSTANDER_S
