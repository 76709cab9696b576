"""What OpenAI clients send by default works, and a plain client sees only OpenAI's events.

Each test speaks as a framework built for OpenAI's own service does (openai-agents,
pipecat, LiveKit), with ``PlainClient``: it never asks for talkterm's extensions and
validates every event it reads against the openai package's server-event union, strictly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from server import protocol as p
from server.app import Server
from tests.clients.openai_types import PlainClient
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text

ANSWER = "The capital of France is Paris. It sits on the Seine, and it is lovely in spring!"
LONG = "This answer goes on and on, sentence after sentence, for quite a while. " * 12


@pytest.fixture
async def plain(server: Server) -> AsyncIterator[PlainClient]:
    """A plain OpenAI client on a server with espeak-ng speech."""
    client = await PlainClient.open(server.ws_url)
    yield client
    await client.close()


def user(text: str, **item: Any) -> dict[str, Any]:
    """A conversation.item.create for a user message."""
    content = [{"type": "input_text", "text": text}]
    return {
        "type": p.ITEM_CREATE,
        "item": {"type": "message", "role": "user", "content": content},
    } | item


def said(fake_llm: FakeLLM) -> list[str]:
    """The conversation the upstream got last (what follows the system prompt)."""
    messages = fake_llm.chat_requests[-1].json["messages"]
    return [m["content"] for m in messages if m["role"] != "system"]


async def test_agents_first_update_applies_instructions_and_answers(
    fake_llm: FakeLLM, plain: PlainClient
) -> None:
    """openai-agents' first session.update: voice ash, model gpt-realtime-2.1, and more."""
    session = {
        "type": "realtime",
        "model": "gpt-realtime-2.1",
        "instructions": "Answer like a pirate.",
        "output_modalities": ["audio"],
        "audio": {
            "input": {"format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": None},
            "output": {"voice": "ash", "format": {"type": "audio/pcm", "rate": 24000}},
        },
        "tool_choice": "auto",
        "tracing": None,
    }
    await plain.send({"type": p.SESSION_UPDATE, "session": session})
    updated = (await plain.expect(p.SESSION_UPDATED))["session"]
    assert updated["instructions"] == "Answer like a pirate."
    assert updated["model"] == "fake-model"
    assert updated["talkterm"]["asked_model"] == "gpt-realtime-2.1"
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER, 5)))
    await plain.ask("Hi")
    got = await plain.collect()
    assert got.done["status"] == "completed" and got.text() == ANSWER
    assert len(got.audio) > p.PCM_RATE  # spoken, with espeak-ng's default voice
    assert not got.of(p.AUDIO_SEGMENT) and not got.of(p.ERROR)
    system = fake_llm.chat_requests[-1].json["messages"][0]
    assert system == {"role": "system", "content": "Answer like a pirate."}
    assert fake_llm.chat_requests[-1].json["model"] == "fake-model"


async def test_one_bad_field_is_reported_alone(fake_llm: FakeLLM, plain: PlainClient) -> None:
    update = {"instructions": "Be brief.", "audio": {"output": {"speed": 9}}}
    await plain.send({"type": p.SESSION_UPDATE, "event_id": "evt_1", "session": update})
    error = (await plain.expect(p.ERROR))["error"]
    assert error["param"] == "session.audio.output.speed" and error["event_id"] == "evt_1"
    updated = (await plain.expect(p.SESSION_UPDATED))["session"]
    assert updated["instructions"] == "Be brief." and updated["audio"]["output"]["speed"] == 1.0


async def test_truncate_of_the_answer_being_spoken_cancels_it_then_cuts(
    fake_llm: FakeLLM, plain: PlainClient
) -> None:
    """openai-agents' interrupt: truncate first, then cancel (which finds nothing left)."""
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG, 3), delay=0.02))
    await plain.ask("Talk")
    got = await plain.read_until(p.AUDIO_DELTA)
    item_id = got.of(p.OUTPUT_ITEM_ADDED)[0]["item"]["id"]
    await plain.send(
        {"type": p.ITEM_TRUNCATE, "item_id": item_id, "content_index": 0, "audio_end_ms": 0}
    )
    await plain.send({"type": p.RESPONSE_CANCEL})  # already done by the truncate: no error
    rest = await plain.read_until(p.ITEM_TRUNCATED)
    kinds = rest.types()
    done = rest.of(p.RESPONSE_DONE)[0]["response"]
    assert done["status"] == "cancelled"
    # The item is closed before response.done, and the truncate is answered after it.
    assert kinds.index(p.OUTPUT_ITEM_DONE) < kinds.index(p.ITEM_DONE) < kinds.index(p.RESPONSE_DONE)
    assert rest.of(p.OUTPUT_ITEM_DONE)[0]["item"]["status"] == "incomplete"
    assert await plain.quiet_for(0.3) == []  # the answer is silent from here on
    await plain.send({"type": "conversation.item.retrieve", "item_id": item_id})
    item = (await plain.expect("conversation.item.retrieved"))["item"]
    assert item["content"][0]["transcript"] == ""  # nothing was heard
    fake_llm.enqueue(Reply(chunks=["Next."]))
    await plain.ask("Go on")  # a next answer starts as usual
    assert (await plain.collect()).text() == "Next."
    await plain.send({"type": p.RESPONSE_CANCEL})  # now nothing is active: OpenAI's error
    assert (await plain.expect(p.ERROR))["error"]["code"] == "response_cancel_not_active"


async def test_output_audio_buffer_clear_silences_the_answer(
    fake_llm: FakeLLM, plain: PlainClient
) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG, 3), delay=0.02))
    await plain.ask("Talk")
    got = await plain.read_until(p.AUDIO_DELTA)
    await plain.send({"type": "output_audio_buffer.clear"})
    rest = await plain.read_until("output_audio_buffer.cleared")
    assert rest.events[-1]["response_id"] == got.of(p.RESPONSE_CREATED)[0]["response"]["id"]
    assert rest.of(p.RESPONSE_DONE)[0]["response"]["status"] == "cancelled"
    assert await plain.quiet_for(0.3) == []


async def test_delete_and_retrieve_items(fake_llm: FakeLLM, plain: PlainClient) -> None:
    await plain.send(
        user(
            "Forget me",
        )
    )
    first = (await plain.expect(p.ITEM_DONE))["item"]["id"]
    await plain.send(user("Keep me"))
    await plain.expect(p.ITEM_DONE)
    await plain.send({"type": "conversation.item.delete", "item_id": first})
    assert (await plain.expect("conversation.item.deleted"))["item_id"] == first
    await plain.send({"type": "conversation.item.retrieve", "item_id": first})
    error = (await plain.expect(p.ERROR))["error"]
    assert error["code"] == "item_not_found"
    fake_llm.enqueue(Reply(chunks=["Kept."]))
    await plain.send({"type": p.RESPONSE_CREATE})
    await plain.collect()
    assert said(fake_llm) == ["Keep me"]


async def test_metadata_echoed_and_history_in_order(fake_llm: FakeLLM, plain: PlainClient) -> None:
    """LiveKit waits for its metadata in response.created and keys its mirror on
    previous_item_id; an item created after "root" goes first."""
    await plain.send(user("Second question"))
    second = (await plain.expect(p.ITEM_ADDED))["item"]["id"]
    await plain.send(user("First question", previous_item_id="root"))
    added = await plain.expect(p.ITEM_ADDED)
    assert added["previous_item_id"] is None
    await plain.expect(p.ITEM_DONE)
    fake_llm.enqueue(Reply(chunks=["Answer."]))
    await plain.send(
        {"type": p.RESPONSE_CREATE, "response": {"metadata": {"client_event_id": "x1"}}}
    )
    got = await plain.collect()
    assert got.of(p.RESPONSE_CREATED)[0]["response"]["metadata"] == {"client_event_id": "x1"}
    assert got.done["metadata"] == {"client_event_id": "x1"}
    assistant_added = got.of(p.ITEM_ADDED)[0]
    assert assistant_added["previous_item_id"] == second
    assert got.of(p.ITEM_DONE)[0]["previous_item_id"] == second
    assert said(fake_llm) == ["First question", "Second question"]


async def test_out_of_band_answer_stays_out_of_the_history(
    fake_llm: FakeLLM, plain: PlainClient
) -> None:
    await plain.send(user("Hello"))
    await plain.expect(p.ITEM_DONE)
    fake_llm.enqueue(Reply(chunks=["positive"]), Reply(chunks=["Hi there."]))
    classify = {
        "conversation": "none",
        "output_modalities": ["text"],
        "input": [
            {"type": "item_reference", "id": "nope"},
        ],
    }
    await plain.send({"type": p.RESPONSE_CREATE, "response": classify})
    assert (await plain.expect(p.ERROR))["error"]["code"] == "item_not_found"
    classify["input"] = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Mood?"}]}
    ]
    await plain.send({"type": p.RESPONSE_CREATE, "response": classify})
    got = await plain.collect()
    assert got.text() == "positive" and not got.of(p.ITEM_ADDED) and not got.of(p.ITEM_DONE)
    assert said(fake_llm) == ["Mood?"]
    await plain.send({"type": p.RESPONSE_CREATE})
    await plain.collect()
    assert said(fake_llm) == ["Hello"]


async def test_plain_client_gets_no_extension_events(fake_llm: FakeLLM, start_server: Any) -> None:
    """Notices and segments stay with clients that asked; the openai types accept all else."""
    server = await start_server(context_tokens=256)
    plain = await PlainClient.open(server.ws_url)
    for turn in range(6):
        fake_llm.enqueue(Reply(chunks=chunk_text("Once upon a time. " * 8, 4)))
        await plain.ask(f"Tell me story number {turn}, please, a long one.")
        got = await plain.collect()
        assert got.done["status"] == "completed" and len(got.audio) > p.PCM_RATE
        assert not got.of(p.ERROR) and not got.of(p.AUDIO_SEGMENT)
    assert len(said(fake_llm)) < 11  # early turns were left out: a talkterm client is told
    assert plain.checked > 100
    await plain.close()
