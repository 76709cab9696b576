"""Push-to-talk through the unmodified openai SDK: Piper speech in, words out, the LLM
asked with those words, and silence that asks nothing."""

from __future__ import annotations

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.client import Client
from tests.helpers.server import ServerFactory
from tests.helpers.voice import heard_as, pieces, silence, spoken
from tests.listen.conftest import Listener

pytestmark = pytest.mark.timeout(120)

QUESTION = "What is the capital city of France?"
PUSH_TO_TALK = {
    "type": "realtime",
    "output_modalities": ["text"],
    "audio": {"input": {"turn_detection": None}},
}


def user_words(request_json: dict[str, object]) -> str:
    """The newest user message the fake upstream was asked."""
    messages = request_json["messages"]
    assert isinstance(messages, list)
    return str([m for m in messages if m["role"] == "user"][-1]["content"])


async def test_a_spoken_question_is_heard_and_answered(
    fake_llm: FakeLLM, listening_server: Listener
) -> None:
    _server, client = await listening_server()
    fake_llm.enqueue(Reply(chunks=["Paris."]))
    audio = await spoken(QUESTION)
    async with client.realtime.connect(model="talkterm") as conn:
        created = await conn.recv()
        assert created.type == "session.created"
        listen = (created.session.model_extra or {})["talkterm"]["listen"]
        assert listen["available"] is True and listen["engine"] == "faster-whisper"
        await conn.session.update(session=PUSH_TO_TALK)  # type: ignore[arg-type]
        for piece in pieces(silence(0.3) + audio + silence(0.3)):
            await conn.input_audio_buffer.append(audio=piece)
        await conn.input_audio_buffer.commit()
        await conn.response.create()
        seen: list[str] = []
        transcript, answer, item_id = "", "", None
        async for event in conn:
            seen.append(event.type)
            if event.type == "input_audio_buffer.committed":
                item_id = event.item_id
            elif event.type == "conversation.item.input_audio_transcription.completed":
                assert event.item_id == item_id
                transcript = event.transcript
                assert event.usage.type == "duration" and event.usage.seconds > 2
            elif event.type == "response.output_text.delta":
                answer += event.delta
            elif event.type == "response.done":
                assert event.response.status == "completed"
                break
    assert heard_as(QUESTION, transcript), transcript
    assert answer == "Paris."
    # The LLM was asked with the words, and only after they were heard.
    assert heard_as(QUESTION, user_words(fake_llm.chat_requests[-1].json))
    assert seen.index("conversation.item.input_audio_transcription.completed") < seen.index(
        "response.output_text.delta"
    )
    opening = ["session.updated", "input_audio_buffer.committed", "conversation.item.added"]
    assert seen[:3] == opening


async def test_silence_reaches_no_model(fake_llm: FakeLLM, listening_server: Listener) -> None:
    _server, client = await listening_server()
    async with client.realtime.connect(model="talkterm") as conn:
        await conn.session.update(session=PUSH_TO_TALK)  # type: ignore[arg-type]
        for piece in pieces(silence(1.5)):
            await conn.input_audio_buffer.append(audio=piece)
        await conn.input_audio_buffer.commit()
        await conn.response.create()
        failure, done = None, None
        async for event in conn:
            if event.type == "conversation.item.input_audio_transcription.failed":
                failure = event.error
            elif event.type == "response.done":
                done = event.response
                break
    assert failure is not None and failure.code == "no_speech"
    assert "No speech was heard" in str(failure.message)
    assert done is not None and done.status == "failed"
    assert done.status_details.error.code == "no_speech"  # type: ignore[union-attr]
    assert fake_llm.chat_requests == []


async def test_a_turn_committed_while_the_model_loads_waits_for_it(
    start_server: ServerFactory,
) -> None:
    server = await start_server(stt="faster-whisper")  # not waiting for listening_ready
    client = await Client.open(server.ws_url)
    await client.send({"type": "session.update", "session": PUSH_TO_TALK})
    for piece in pieces(await spoken(QUESTION)):
        await client.send({"type": "input_audio_buffer.append", "audio": piece})
    await client.send({"type": "input_audio_buffer.commit"})
    done = await client.expect("conversation.item.input_audio_transcription.completed", 60)
    assert heard_as(QUESTION, done["transcript"])
    await client.close()
