"""Pause, resume, cancel and truncate, as a client sees them."""

from __future__ import annotations

import time

import pytest

from server import protocol as p
from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client
from tests.helpers.server import ServerFactory
from tests.helpers.texts import LONG


@pytest.fixture(params=["espeak", "piper"])
def engine(request: pytest.FixtureRequest) -> str:
    """Both local engines: the controls must not depend on how speech is made."""
    return str(request.param)


@pytest.fixture
async def server(start_server: ServerFactory, engine: str) -> Server:
    """A server speaking with ``engine``."""
    return await start_server(tts=engine)


async def reference(fake_llm: FakeLLM, client: Client, text: str) -> bytes:
    fake_llm.enqueue(Reply(chunks=chunk_text(text)))
    return bytes((await client.answer("reference")).audio)


async def test_pause_holds_everything_and_resume_loses_nothing(
    fake_llm: FakeLLM, client: Client, engine: str
) -> None:
    unpaused = await reference(fake_llm, client, LONG)
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG), delay=0.01))
    await client.ask("How do I make tea?")
    got = await client.read_until(p.TRANSCRIPT_DELTA)
    await client.send({"type": p.RESPONSE_PAUSE})
    await client.read_until(p.RESPONSE_PAUSED, got)
    sent_before = len(fake_llm.chunk_sent_at)
    held = await client.quiet_for(0.8)
    # Nothing of the response arrives while paused, but the upstream keeps flowing.
    assert held == []
    assert len(fake_llm.chunk_sent_at) > sent_before
    await client.send({"type": p.RESPONSE_RESUME})
    resumed_at = len(got.events)
    await client.collect(got)
    assert got.events[resumed_at]["type"] == p.RESPONSE_RESUMED
    assert got.text() == LONG
    assert got.done["status"] == "completed"
    if engine == "espeak":
        assert bytes(got.audio) == unpaused  # same speech, byte for byte: nothing lost or reordered
    else:
        # A neural voice never says a thing twice alike; every sentence must still arrive.
        # Five sentences, the first cut after "First," (Piper sends its opening clause ahead).
        assert len(got.of(p.AUDIO_SEGMENT)) == 6
        assert abs(len(got.audio) - len(unpaused)) < 0.1 * len(unpaused)


async def test_cancel_closes_upstream_and_ends_with_done(fake_llm: FakeLLM, client: Client) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG * 5), delay=0.02))
    await client.ask("Talk for a while")
    await client.read_until(p.AUDIO_DELTA)
    cancelled_at = time.perf_counter()
    await client.send({"type": p.RESPONSE_CANCEL})
    closed_at = await fake_llm.wait_disconnect(timeout=2)
    assert closed_at - cancelled_at < 0.1
    rest = await client.collect()
    assert rest.done["status"] == "cancelled"
    assert await client.quiet_for(0.5) == []  # nothing after response.done
    # The session takes the next prompt at once.
    fake_llm.enqueue(Reply(chunks=["Sure."]))
    assert (await client.answer("Something else")).text() == "Sure."


async def test_cancel_while_paused(fake_llm: FakeLLM, client: Client) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG * 3), delay=0.02))
    await client.ask("Go")
    await client.read_until(p.TRANSCRIPT_DELTA)
    await client.send({"type": p.RESPONSE_PAUSE})
    await client.read_until(p.RESPONSE_PAUSED)
    await client.send({"type": p.RESPONSE_CANCEL})
    rest = await client.collect()
    # Nothing held is let out: only the item is closed (incomplete), then response.done.
    assert rest.types() == [p.OUTPUT_ITEM_DONE, p.ITEM_DONE, p.RESPONSE_DONE]
    assert rest.of(p.OUTPUT_ITEM_DONE)[0]["item"]["status"] == "incomplete"
    assert rest.done["status"] == "cancelled"
    await fake_llm.wait_disconnect(timeout=1)


async def test_cancelled_text_in_history_is_what_was_delivered(
    fake_llm: FakeLLM, client: Client
) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG * 3), delay=0.02))
    await client.ask("Go")
    got = await client.read_until(p.TRANSCRIPT_DELTA)
    await client.send({"type": p.RESPONSE_CANCEL})
    await client.collect(got)
    fake_llm.enqueue(Reply(chunks=["ok"]))
    await client.answer("next")
    assistant = fake_llm.requests[-1].json["messages"][-2]
    assert assistant == {"role": "assistant", "content": got.text()}
    assert 0 < len(got.text()) < len(LONG * 3)


async def test_truncate_keeps_only_what_was_heard(fake_llm: FakeLLM, client: Client) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG)))
    got = await client.answer("Go")
    item_id = got.done["output"][0]["id"]
    segments = got.of(p.AUDIO_SEGMENT)
    # Stop just after the second segment started: the user heard the first one whole.
    heard_ms = int(segments[1]["audio_start_ms"]) + 5
    await client.send(
        {"type": p.ITEM_TRUNCATE, "item_id": item_id, "content_index": 0, "audio_end_ms": heard_ms}
    )
    truncated = await client.expect(p.ITEM_TRUNCATED)
    assert truncated["audio_end_ms"] == heard_ms
    fake_llm.enqueue(Reply(chunks=["ok"]))
    await client.answer("next")
    assistant = fake_llm.requests[-1].json["messages"][-2]["content"]
    assert assistant == segments[0]["text"].strip()


async def test_truncate_mid_segment_cuts_at_a_word(fake_llm: FakeLLM, client: Client) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG)))
    got = await client.answer("Go")
    item_id = got.done["output"][0]["id"]
    total_ms = len(got.audio) * 1000 // (p.PCM_RATE * 2)
    await client.send(
        {
            "type": p.ITEM_TRUNCATE,
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": total_ms // 2,
        }
    )
    await client.expect(p.ITEM_TRUNCATED)
    fake_llm.enqueue(Reply(chunks=["ok"]))
    await client.answer("next")
    kept = fake_llm.requests[-1].json["messages"][-2]["content"]
    assert LONG.startswith(kept)
    assert len(LONG) * 0.25 < len(kept) < len(LONG) * 0.75
    assert LONG[len(kept)] in " \n"  # whole words only


async def test_truncate_errors(fake_llm: FakeLLM, client: Client) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text("Short answer.")))
    got = await client.answer("Go")
    item_id = got.done["output"][0]["id"]
    cases = [
        ({"item_id": "item_nope", "audio_end_ms": 10}, "item_not_found"),
        ({"item_id": item_id, "audio_end_ms": 10_000_000}, "invalid_value"),
        ({"item_id": item_id, "audio_end_ms": -5}, "invalid_value"),
        ({"item_id": item_id, "audio_end_ms": "soon"}, "invalid_type"),
        ({"audio_end_ms": 5}, "missing_required_parameter"),
    ]
    for fields, code in cases:
        await client.send({"type": p.ITEM_TRUNCATE, "event_id": "evt_x", **fields})
        error = await client.expect(p.ERROR)
        assert error["error"]["code"] == code, fields
        assert error["error"]["event_id"] == "evt_x"


async def test_controls_without_a_response_are_refused(client: Client) -> None:
    for kind in (p.RESPONSE_CANCEL, p.RESPONSE_PAUSE, p.RESPONSE_RESUME):
        await client.send({"type": kind})
        error = await client.expect(p.ERROR)
        assert error["error"]["code"].endswith("_not_active")


async def test_second_response_create_is_refused(fake_llm: FakeLLM, client: Client) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG), delay=0.01))
    await client.ask("Go")
    await client.send({"type": p.RESPONSE_CREATE})
    got = await client.collect()
    errors = got.of(p.ERROR)
    assert [e["error"]["code"] for e in errors] == ["conversation_already_has_active_response"]
    assert got.text() == LONG


async def test_dropped_client_cancels_upstream_after_the_grace_period(
    fake_llm: FakeLLM, start_server
) -> None:
    server = await start_server(resume_grace=0.3)
    client = await Client.open(server.ws_url)
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG * 5), delay=0.02))
    await client.ask("Go")
    await client.read_until(p.TRANSCRIPT_DELTA)
    dropped_at = time.perf_counter()
    client.ws.transport.abort()  # vanish without a closing handshake
    closed_at = await fake_llm.wait_disconnect(timeout=3)
    assert closed_at - dropped_at >= 0.3  # it waited for a resume first
