"""Regression tests for bugs the fuzzer found in sequences of valid control events.

Each test states what docs/protocol.md promises. Frames sent "together" go out
in one TCP write, so the session reads them before the new response's task has
run once: that makes the races the fuzzer hit deterministic. The fuzz model
(tests/fuzz/oracle.py, matcher.py) demands the same behaviour.
"""

from __future__ import annotations

import json
from typing import Any

from server import protocol as p
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client, Received
from tests.helpers.server import ServerFactory
from tests.helpers.waiting import stays, wait_for

LONG = "The first sentence is here. The second one follows it. " * 6


def send_together(client: Client, *events: dict[str, Any]) -> None:
    """Queue several events and write them to the socket in one go."""
    for event in events:
        client.ws.protocol.send_text(json.dumps(event).encode())
    client.ws.send_data()


async def start_stalled(fake_llm: FakeLLM, client: Client) -> Received:
    """Start a response whose upstream stops after a few chunks; read its first delta."""
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG), fault="stall", cut_after=3))
    await client.ask("Go on")
    return await client.read_until(p.TRANSCRIPT_DELTA)


async def until_error(client: Client, event_id: str) -> Received:
    """Everything up to the error that echoes ``event_id``."""
    got = Received()
    while not (got.events and got.events[-1].get("error", {}).get("event_id") == event_id):
        await client.read_until(p.ERROR, got, timeout=5)
    return got


SENTINEL = {"type": "fuzz.sentinel", "event_id": "sentinel"}


async def test_cancel_right_after_create_announces_and_closes_upstream(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    # A short read timeout ends the leaked upstream stream before the server closes.
    server = await start_server(tts="none", read_timeout=2.0)
    client = await Client.open(server.ws_url)
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG), fault="stall", cut_after=3))
    await client.send(p.user_text_item("Go"))
    await client.expect(p.ITEM_DONE)
    send_together(client, {"type": p.RESPONSE_CREATE}, {"type": p.RESPONSE_CANCEL})
    got = await client.collect(timeout=5)
    assert got.done["status"] == "cancelled"
    assert got.types()[0] == p.RESPONSE_CREATED, got.types()

    # Cancelled before it ran, the response may never have asked the upstream at all;
    # every request it did make is hung up at once, long before the read timeout (2 s)
    # would end a leaked stream, and none comes after.
    def none_open() -> bool:
        return len(fake_llm.disconnected_at) == len(fake_llm.chat_requests)

    await wait_for(None, none_open, timeout=0.7, what="the upstream request hung up")
    await stays(None, none_open, for_s=0.5, what="no upstream stream left open")


async def test_pause_right_after_create_is_acked_after_response_created(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server(tts="none")
    client = await Client.open(server.ws_url)
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG), delay=0.01))
    await client.send(p.user_text_item("Go"))
    await client.expect(p.ITEM_DONE)
    send_together(client, {"type": p.RESPONSE_CREATE}, {"type": p.RESPONSE_PAUSE})
    got = await client.read_until(p.RESPONSE_PAUSED, timeout=5)
    await client.send({"type": p.RESPONSE_CANCEL})
    await client.collect(got, timeout=5)
    assert got.types().index(p.RESPONSE_CREATED) < got.types().index(p.RESPONSE_PAUSED)


async def test_pause_and_resume_acks_name_the_response(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server(tts="none")
    client = await Client.open(server.ws_url)
    first = await start_stalled(fake_llm, client)
    response_id = first.of(p.RESPONSE_CREATED)[0]["response"]["id"]
    item_id = first.of(p.OUTPUT_ITEM_ADDED)[0]["item"]["id"]
    await client.send({"type": p.RESPONSE_PAUSE})
    paused = await client.expect(p.RESPONSE_PAUSED)
    await client.send({"type": p.RESPONSE_RESUME})
    resumed = await client.expect(p.RESPONSE_RESUMED)
    await client.send({"type": p.RESPONSE_CANCEL})
    await client.collect()
    for ack in (paused, resumed):
        assert (ack.get("response_id"), ack.get("item_id")) == (response_id, item_id), ack


async def test_second_cancel_gets_an_answer(start_server: ServerFactory, fake_llm: FakeLLM) -> None:
    server = await start_server(tts="none")
    client = await Client.open(server.ws_url)
    await start_stalled(fake_llm, client)
    second = {"type": p.RESPONSE_CANCEL, "event_id": "second"}
    send_together(client, {"type": p.RESPONSE_CANCEL}, second, SENTINEL)
    got = await until_error(client, "sentinel")
    codes = {e["error"]["event_id"]: e["error"]["code"] for e in got.of(p.ERROR)}
    assert codes.get("second") == "response_cancel_not_active", got.types()


async def test_create_right_after_cancel_starts_the_next_response(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server(tts="none")
    client = await Client.open(server.ws_url)
    await start_stalled(fake_llm, client)
    fake_llm.enqueue(Reply(chunks=["Next."]))
    nxt = {"type": p.RESPONSE_CREATE, "event_id": "next"}
    send_together(client, {"type": p.RESPONSE_CANCEL}, nxt, SENTINEL)
    got = await until_error(client, "sentinel")
    refused = [e for e in got.of(p.ERROR) if e["error"]["event_id"] == "next"]
    assert not refused, refused
    while len(got.of(p.RESPONSE_DONE)) < 2:
        await client.read_until(p.RESPONSE_DONE, got, timeout=5)
    assert got.done["status"] == "completed" and got.text().endswith("Next.")


async def test_paused_response_sends_nothing_until_resumed(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server(tts="none")
    client = await Client.open(server.ws_url)
    # The empty last chunk holds the stream open after every word has been delivered.
    fake_llm.enqueue(Reply(chunks=["Hello.", ""], delay=0.5))
    await client.ask("Hi")
    await client.read_until(p.TRANSCRIPT_DELTA)
    await client.send({"type": p.RESPONSE_PAUSE})
    await client.expect(p.RESPONSE_PAUSED)
    assert await client.quiet_for(1.0) == []
    await client.send({"type": p.RESPONSE_RESUME})
    rest = await client.collect(timeout=5)
    assert rest.types()[0] == p.RESPONSE_RESUMED and rest.done["status"] == "completed"


async def test_cancel_while_paused_sends_only_response_done(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server(tts="none")
    client = await Client.open(server.ws_url)
    fake_llm.enqueue(Reply(chunks=["word "] * 40, delay=0.01))
    await client.ask("Hi")
    await client.read_until(p.TRANSCRIPT_DELTA)
    await client.send({"type": p.RESPONSE_PAUSE})
    await client.expect(p.RESPONSE_PAUSED)
    # The upstream moves on: the sender now holds the next delta.
    sent = len(fake_llm.chunk_sent_at)
    await wait_for(None, lambda: len(fake_llm.chunk_sent_at) > sent + 1, what="upstream moved on")
    await client.send({"type": p.RESPONSE_CANCEL})
    rest = await client.collect(timeout=5)
    # Nothing held is let out; the item is closed (incomplete) before response.done.
    assert rest.types() == [p.OUTPUT_ITEM_DONE, p.ITEM_DONE, p.RESPONSE_DONE]
