"""A spoken message added whole with ``conversation.item.create`` (``input_audio`` parts,
as the Realtime API allows): heard by the session's recognizer, its words kept on the
part, and answered by the next response.create. Bad audio is one clear error."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from server import protocol as p
from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.client import Client, Received
from tests.helpers.server import ServerFactory
from tests.helpers.voice import heard_as, silence, spoken
from tests.listen.conftest import Listener

pytestmark = pytest.mark.timeout(120)

# Plain words: tiny.en once heard "i-full" for "Eiffel" in CI.
QUESTION = "How many days are there in a week?"


def user_words(request_json: dict[str, Any]) -> str:
    """The newest user message the fake upstream was asked."""
    messages = request_json["messages"]
    return str([m for m in messages if m["role"] == "user"][-1]["content"])


def audio_item(*audio: str, item_id: str | None = None) -> dict[str, Any]:
    """A user message of one input_audio part per ``audio`` (base64)."""
    parts = [{"type": "input_audio", "audio": data} for data in audio]
    item: dict[str, Any] = {"type": "message", "role": "user", "content": parts}
    return item | ({"id": item_id} if item_id else {})


def b64(pcm: bytes) -> str:
    """Base64 text of ``pcm``."""
    return base64.b64encode(pcm).decode()


async def text_answer(client: Client) -> Received:
    """Ask for an answer (text) to what the conversation holds; read it to its end."""
    await client.send({"type": p.RESPONSE_CREATE, "response": {"output_modalities": ["text"]}})
    return await client.collect(timeout=30)


async def test_a_spoken_message_is_heard_kept_and_answered(
    fake_llm: FakeLLM, listening_server: Listener
) -> None:
    _server, client = await listening_server()
    fake_llm.enqueue(Reply(chunks=["About 330 metres."]))
    pcm = silence(0.2) + await spoken(QUESTION) + silence(0.2)
    half = len(pcm) // 4 * 2  # two parts, cut at a sample: one turn
    async with client.realtime.connect(model="talkterm") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.conversation.item.create(
            item=audio_item(b64(pcm[:half]), b64(pcm[half:]), item_id="spoken_1")  # type: ignore[arg-type]
        )
        await conn.response.create()
        added, transcript, done, answer = None, "", None, ""
        async for event in conn:
            if event.type == "error":
                raise AssertionError(event.error.message)
            if event.type == "conversation.item.added" and event.item.id == "spoken_1":
                added = event.item.model_dump()
            elif event.type == "conversation.item.input_audio_transcription.completed":
                assert event.item_id == "spoken_1"
                transcript = event.transcript
            elif event.type == "conversation.item.done" and event.item.id == "spoken_1":
                done = event.item.model_dump()
            elif event.type == "response.output_text.delta":
                answer += event.delta
            elif event.type == "response.done":
                assert event.response.status == "completed"
                break
        retrieved = None
        await conn.conversation.item.retrieve(item_id="spoken_1")
        async for event in conn:
            if event.type == "conversation.item.retrieved":
                retrieved = event.item.model_dump()
                break
    assert added is not None and added["content"][0]["type"] == "input_audio"
    assert heard_as(QUESTION, transcript), transcript
    # The words stay on the part, as the Realtime API keeps them.
    for item in (done, retrieved):
        assert item is not None
        assert item["content"][0]["transcript"] == transcript
    assert answer == "About 330 metres."
    assert heard_as(QUESTION, user_words(fake_llm.chat_requests[-1].json))


async def test_a_transcript_without_audio_is_taken_at_its_word(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server()  # no recognizer: nothing needs hearing
    fake_llm.enqueue(Reply(chunks=["Yes."]))
    client = await Client.open(server.ws_url)
    part = {"type": "input_audio", "transcript": "Is it raining?"}
    item = {"type": "message", "role": "user", "content": [part]}
    await client.send({"type": p.ITEM_CREATE, "item": item})
    done = await client.expect(p.ITEM_DONE)
    assert done["item"]["content"][0]["transcript"] == "Is it raining?"
    got = await text_answer(client)
    assert got.text() == "Yes."
    assert user_words(fake_llm.chat_requests[-1].json) == "Is it raining?"
    await client.close()


async def expect_error(client: Client, item: dict[str, Any]) -> dict[str, Any]:
    """Create ``item``; the error it gets (no item is added)."""
    await client.send({"type": p.ITEM_CREATE, "item": item, "event_id": "evt_bad"})
    event = await client.recv()
    assert isinstance(event, dict) and event["type"] == p.ERROR, event
    assert event["error"]["event_id"] == "evt_bad"
    return dict(event["error"])


@pytest.fixture
async def short_turns(start_server: ServerFactory) -> Server:
    """A listening server whose spoken turns are at most 3 s."""
    server = await start_server(stt="faster-whisper", stt__max_turn_s=3)
    await server.listening_ready()
    return server


async def test_bad_audio_is_refused_in_plain_words_and_the_session_goes_on(
    fake_llm: FakeLLM, short_turns: Server
) -> None:
    client = await Client.open(short_turns.ws_url)
    error = await expect_error(client, audio_item("not base64 at all!"))
    assert error["code"] == "invalid_base64" and error["param"] == "item.content[0].audio"
    error = await expect_error(client, audio_item(b64(silence(4))))
    assert error["code"] == "input_audio_too_long" and "at most 3 s" in error["message"]
    error = await expect_error(client, audio_item(""))
    assert error["code"] == "invalid_value" and "needs 'audio'" in error["message"]
    error = await expect_error(client, audio_item(b64(silence(0.02))))
    assert error["code"] == "input_audio_too_short" and "20 ms" in error["message"]
    error = await expect_error(client, audio_item(b64(b"\x01\x02\x03")))
    assert error["code"] == "invalid_audio_format"
    mixed = audio_item(b64(silence(1)))
    mixed["content"].append({"type": "input_text", "text": "and this"})
    error = await expect_error(client, mixed)
    assert "only input_audio parts" in error["message"]
    # Nothing was added, and the session hears the next spoken message.
    await client.send({"type": p.ITEM_CREATE, "item": audio_item(b64(await spoken(QUESTION)))})
    heard = await client.expect(p.HEARD_COMPLETED, 30)
    assert heard_as(QUESTION, heard["transcript"])
    fake_llm.enqueue(Reply(chunks=["Tall."]))
    got = await text_answer(client)
    assert got.text() == "Tall."
    asked = fake_llm.chat_requests[-1].json["messages"]
    assert [m["role"] for m in asked if m["role"] != "system"] == ["user"]  # only that one
    await client.close()


async def test_silence_as_a_message_is_not_answered(
    fake_llm: FakeLLM, short_turns: Server
) -> None:
    client = await Client.open(short_turns.ws_url)
    await client.send({"type": p.ITEM_CREATE, "item": audio_item(b64(silence(1.0)))})
    failed = await client.expect(p.HEARD_FAILED, 30)
    assert failed["error"]["code"] == "no_speech"
    await client.send({"type": p.RESPONSE_CREATE})
    done = (await client.collect(timeout=30)).done
    assert done["status"] == "failed"
    assert done["status_details"]["error"]["code"] == "no_speech"
    assert fake_llm.chat_requests == []
    await client.close()


async def test_no_recognizer_says_so(start_server: ServerFactory) -> None:
    server = await start_server(stt="none")
    client = await Client.open(server.ws_url)
    error = await expect_error(client, audio_item(b64(silence(1.0))))
    assert error["code"] == "stt_unavailable" and "--stt none" in error["message"]
    await client.close()
