"""A whole turn over a real WebSocket: text, speech, order, memory, isolation."""

from __future__ import annotations

import asyncio
import audioop
from typing import Any

from server import protocol as p
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client, connected

ANSWER = "The capital of France is Paris. It sits on the Seine, and it is lovely in spring!"


async def test_text_and_speech_stream_in_order(fake_llm: FakeLLM, client: Client) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER, 5), delay=0.01))
    got = await client.answer("What is the capital of France?")

    assert got.text() == ANSWER
    assert got.done["status"] == "completed"
    types = got.types()
    assert types[0] == p.RESPONSE_CREATED
    assert types[-1] == p.RESPONSE_DONE
    assert types.index(p.AUDIO_DONE) < types.index(p.TRANSCRIPT_DONE) < types.index(p.RESPONSE_DONE)
    assert got.of(p.TRANSCRIPT_DONE)[0]["transcript"] == ANSWER
    # Speech: non-silent, and about as long as espeak-ng takes for ~17 words.
    seconds = len(got.audio) / (p.PCM_RATE * 2)
    assert 2.0 < seconds < 12.0
    assert audioop.rms(bytes(got.audio), 2) > 300
    assert got.done["output"][0]["content"][0]["transcript"] == ANSWER
    assert got.done["usage"]["total_tokens"] > 0


async def test_segments_name_the_text_they_speak(fake_llm: FakeLLM, client: Client) -> None:
    answer = "Without a doubt, the capital of France is Paris. It sits on the Seine."
    fake_llm.enqueue(Reply(chunks=chunk_text(answer, 3)))
    got = await client.answer("Tell me")
    segments = got.of(p.AUDIO_SEGMENT)
    assert len(segments) >= 3
    text = got.text()
    for seg in segments:
        assert text[seg["char_start"] : seg["char_end"]] == seg["text"]
    # The first segment is an early clause, so speech can start before the sentence ends.
    assert segments[0]["text"] == "Without a doubt,"
    starts = [seg["audio_start_ms"] for seg in segments]
    assert starts == sorted(starts) and starts[0] == 0
    # Each segment is announced before its own audio.
    first_audio = got.types().index(p.AUDIO_DELTA)
    assert got.types().index(p.AUDIO_SEGMENT) < first_audio


async def test_timings_report_first_text_and_first_audio(fake_llm: FakeLLM, client: Client) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER, 5)))
    timings = (await client.answer("Hi")).done["timings"]
    assert 0 < timings["time_to_first_text_ms"] <= timings["time_to_first_audio_ms"]
    assert timings["duration_ms"] >= timings["time_to_first_audio_ms"]


async def test_text_only_session_sends_no_audio(fake_llm: FakeLLM, client: Client) -> None:
    await client.send({"type": p.SESSION_UPDATE, "session": {"output_modalities": ["text"]}})
    await client.expect(p.SESSION_UPDATED)
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER, 5)))
    got = await client.answer("Hi")
    assert got.text() == ANSWER
    assert not got.audio and not got.of(p.AUDIO_SEGMENT) and not got.of(p.TRANSCRIPT_DELTA)
    assert got.of(p.TEXT_DONE)[0]["text"] == ANSWER


async def test_binary_audio_only_when_asked(fake_llm: FakeLLM, client: Client) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER, 5)), Reply(chunks=chunk_text(ANSWER, 5)))
    base64_run = await client.answer("one")
    assert base64_run.binary_frames == 0 and base64_run.audio

    await client.send({"type": p.SESSION_UPDATE, "session": {"talkterm": {"binary_audio": True}}})
    updated = await client.expect(p.SESSION_UPDATED)
    assert updated["session"]["talkterm"]["binary_audio"] is True
    binary_run = await client.answer("two")
    assert binary_run.binary_frames > 0 and not binary_run.of(p.AUDIO_DELTA)[0].get("delta")
    # The same text gives the same speech either way.
    assert abs(len(binary_run.audio) - len(base64_run.audio)) < p.PCM_RATE * 2 * 0.05


async def test_g711_output_format(fake_llm: FakeLLM, client: Client) -> None:
    fmt = {"type": "audio/pcmu"}
    await client.send({"type": p.SESSION_UPDATE, "session": {"audio": {"output": {"format": fmt}}}})
    await client.expect(p.SESSION_UPDATED)
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER, 5)))
    got = await client.answer("Hi")
    pcm = audioop.ulaw2lin(bytes(got.audio), 2)
    assert 2.0 < len(pcm) / (8000 * 2) < 12.0  # one byte per sample at 8 kHz
    assert audioop.rms(pcm, 2) > 300


async def test_second_turn_carries_the_first(fake_llm: FakeLLM, client: Client) -> None:
    await client.send({"type": p.SESSION_UPDATE, "session": {"instructions": "Be terse."}})
    await client.expect(p.SESSION_UPDATED)
    fake_llm.enqueue(Reply(chunks=["Paris."]), Reply(chunks=["About two million."]))
    await client.answer("Capital of France?")
    await client.answer("How many people live there?")
    second = fake_llm.requests[-1].json["messages"]
    assert second == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "How many people live there?"},
    ]


async def test_two_sessions_stay_apart(fake_llm: FakeLLM, server) -> None:
    one, two = await Client.open(server.ws_url), await Client.open(server.ws_url)
    try:
        fake_llm.enqueue(
            Reply(chunks=chunk_text("Apples are red. " * 3), delay=0.01),
            Reply(chunks=chunk_text("Bananas are yellow. " * 3), delay=0.01),
        )
        await one.ask("first")
        await two.ask("second")
        a, b = await asyncio.gather(one.collect(), two.collect())
        texts = {a.text(), b.text()}
        assert texts == {"Apples are red. " * 3, "Bananas are yellow. " * 3}
        assert a.done["id"] != b.done["id"]
        # Each session's next request holds only its own history.
        await one.answer("again")
        history = " ".join(m["content"] for m in fake_llm.requests[-1].json["messages"])
        assert "second" not in history
    finally:
        await one.close()
        await two.close()


async def test_session_created_names_llm_and_tts(client: Client) -> None:
    ext = client.session["session"]["talkterm"]
    assert ext["tts"] == "espeak" and ext["demo"] is False
    assert "fake-model" in ext["llm"]


async def test_no_llm_configured_gives_a_labelled_demo(start_server) -> None:
    server = await start_server(llm_base_url=None, tts="none")
    async with connected(server.ws_url) as client:
        ext = client.session["session"]["talkterm"]
        got = await client.answer("Hello?")
    assert ext["demo"] is True and "demo" in ext["llm"]
    assert got.done["status"] == "completed"
    assert "--llm-base-url" in got.text() and "OPENAI_API_KEY" in got.text()


async def test_espeak_refuses_an_unknown_voice_but_keeps_the_rest_of_the_update(
    fake_llm: FakeLLM, client: Client
) -> None:
    def update(name: str, **more: Any) -> dict[str, Any]:
        session = {"audio": {"output": {"voice": name}}} | more
        return {"type": p.SESSION_UPDATE, "session": session}

    await client.send(update("no-such-voice", instructions="Be terse."))
    error = await client.expect(p.ERROR)
    assert error["error"]["code"] == "invalid_value" and "en-us" in error["error"]["message"]
    assert error["error"]["param"] == "session.audio.output.voice"
    session = (await client.expect(p.SESSION_UPDATED))["session"]
    assert session["instructions"] == "Be terse." and session["audio"]["output"]["voice"] is None
    await client.send(update("en-gb"))
    assert (await client.expect(p.SESSION_UPDATED))["session"]["audio"]["output"][
        "voice"
    ] == "en-gb"
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER, 5)))
    got = await client.answer("Hi")
    assert not got.of(p.ERROR) and len(got.audio) > p.PCM_RATE
    system = fake_llm.chat_requests[-1].json["messages"][0]
    assert system == {"role": "system", "content": "Be terse."}


async def test_openai_voice_names_speak_with_espeak_default(
    fake_llm: FakeLLM, client: Client
) -> None:
    """openai-agents sends voice "ash": espeak-ng speaks it with its own default voice."""
    await client.send(
        {"type": p.SESSION_UPDATE, "session": {"audio": {"output": {"voice": "ash"}}}}
    )
    assert (await client.expect(p.SESSION_UPDATED))["session"]["audio"]["output"]["voice"] == "ash"
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER, 5)))
    await client.ask("Hi")
    got = await client.collect()
    assert not got.of(p.ERROR) and len(got.audio) > p.PCM_RATE
