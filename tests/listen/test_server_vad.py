"""Server VAD through the unmodified openai SDK, the microphone paced in real time:
turns found by themselves and answered, and barge-in during a long spoken answer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.voice import Microphone, heard_as, hiss, spoken, wer
from tests.listen.conftest import Listener
from tests.listen.test_push_to_talk import user_words

pytestmark = pytest.mark.timeout(120)

FIRST = "Please tell me a story about the sea."
SECOND = "Stop, what time is it in London?"
LONG_ANSWER = "Once upon a time a small boat sailed out at dawn. " * 40


async def test_a_pause_ends_the_turn_and_it_is_answered(
    fake_llm: FakeLLM, listening_server: Listener
) -> None:
    _server, client = await listening_server()
    fake_llm.enqueue(Reply(chunks=["It is noon."]))
    async with client.realtime.connect(model="talkterm") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        mic = Microphone(conn.input_audio_buffer.append, floor=hiss(0.04))
        mic.start()
        mic.say(await spoken(SECOND))
        seen: list[str] = []
        heard, answer, started_ms = "", "", None
        try:
            async for event in conn:
                seen.append(event.type)
                if event.type == "input_audio_buffer.speech_started":
                    started_ms = event.audio_start_ms
                elif event.type == "conversation.item.input_audio_transcription.completed":
                    heard = event.transcript
                elif event.type == "response.output_text.delta":
                    answer += event.delta
                elif event.type == "response.done":
                    break
        finally:
            await mic.stop()
    assert heard_as(SECOND, heard), heard
    assert answer == "It is noon."
    assert heard_as(SECOND, user_words(fake_llm.chat_requests[-1].json))
    # Speech began after the microphone's first stretch of hiss, with 300 ms padding before it.
    assert started_ms is not None and 0 <= started_ms < 1000
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
    ]
    assert [t for t in seen if t in order] == order


async def test_speaking_over_a_long_answer_cancels_it_and_the_new_turn_is_answered(
    fake_llm: FakeLLM, listening_server: Listener
) -> None:
    _server, client = await listening_server()
    fake_llm.enqueue(
        Reply(chunks=chunk_text(LONG_ANSWER), delay=0.03), Reply(chunks=["It is five o'clock."])
    )
    first, second = await spoken(FIRST), await spoken(SECOND)
    async with client.realtime.connect(model="talkterm") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})
        mic = Microphone(conn.input_audio_buffer.append)
        mic.start()
        mic.say(first)
        done: list[Any] = []
        heard: list[str] = []
        audio_b64 = 0
        answer_item = None
        try:
            async for event in conn:
                if event.type == "conversation.item.input_audio_transcription.completed":
                    heard.append(event.transcript)
                elif event.type == "response.output_audio.delta":
                    audio_b64 += len(event.delta)
                    if len(done) == 0 and audio_b64 > 200_000 and mic.idle and len(heard) == 1:
                        mic.say(second)  # about two seconds into the spoken answer
                elif event.type == "response.created" and answer_item is None:
                    answer_item = event.response
                elif event.type == "response.done":
                    done.append(event.response)
                    if len(done) == 1:
                        # The client stops playing and says what it played, as OpenAI's do.
                        item_id = event.response.output[0].id  # type: ignore[index]
                        await conn.conversation.item.truncate(
                            item_id=str(item_id), content_index=0, audio_end_ms=1000
                        )
                    else:
                        break
        finally:
            await mic.stop()
    assert done[0].status == "cancelled"
    assert done[0].status_details.reason == "turn_detected"
    assert done[1].status == "completed"
    assert [wer(FIRST, heard[0]), wer(SECOND, heard[1])] == [0, 0], heard
    asked = fake_llm.chat_requests[-1].json
    assert heard_as(SECOND, user_words(asked))
    # The history keeps only what was heard of the cancelled answer: about a second of it.
    said = [m["content"] for m in asked["messages"] if m["role"] == "assistant"]
    assert said and 0 < len(said[0]) < 60, said
