"""Listening over HTTP with the unmodified openai SDK: /v1/audio/transcriptions whole and
streamed, and Chat Completions with an input_audio part, whose words the LLM is asked."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
import wave
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.voice import heard_as, silence, spoken
from tests.listen.conftest import Listener
from tests.listen.test_push_to_talk import user_words

pytestmark = pytest.mark.timeout(120)

SENTENCE = "How many days are there in a week?"


def wav_file(pcm: bytes, rate: int = 24_000) -> bytes:
    """PCM16 mono as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return out.getvalue()


def mp3_file(pcm: bytes) -> bytes:
    """PCM16 mono 24 kHz as an MP3 file (ffmpeg)."""
    done = subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-f",
            "s16le",
            "-ar",
            "24000",
            "-ac",
            "1",
            "-i",
            "-",
            "-b:a",
            "128k",
            "-f",
            "mp3",
            "-",
        ],
        input=pcm,
        capture_output=True,
        check=True,
    )
    return done.stdout


async def test_transcriptions_whole_and_streamed(listening_server: Listener) -> None:
    _server, client = await listening_server()
    audio = wav_file(await spoken(SENTENCE))
    whole = await client.audio.transcriptions.create(model="whisper-1", file=("q.wav", audio))
    assert heard_as(SENTENCE, whole.text), whole.text
    assert whole.usage is not None and whole.usage.type == "duration"
    text = await client.audio.transcriptions.create(
        model="gpt-4o-transcribe", file=("q.wav", audio), response_format="text"
    )
    assert heard_as(SENTENCE, str(text))
    stream = await client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("q.wav", audio), stream=True
    )
    deltas, done = "", None
    async for event in stream:
        if event.type == "transcript.text.delta":
            deltas += event.delta
        elif event.type == "transcript.text.done":
            done = event.text
    assert done is not None and heard_as(SENTENCE, done) and deltas.strip() == done


async def test_silence_is_empty_text_and_bad_files_are_refused(
    listening_server: Listener,
) -> None:
    server, client = await listening_server()
    quiet = await client.audio.transcriptions.create(
        model="whisper-1", file=("q.wav", wav_file(silence(2)))
    )
    assert quiet.text == ""
    with pytest.raises(openai.BadRequestError) as caught:
        await client.audio.transcriptions.create(model="whisper-1", file=("q.txt", b"hello"))
    assert caught.value.code == "invalid_value" and "wav, mp3" in caught.value.message
    broken = b"RIFF" + bytes(40)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.audio.transcriptions.create(model="whisper-1", file=("q.wav", broken))
    assert "could not be decoded" in caught.value.message
    async with httpx.AsyncClient() as http:
        missing = await http.post(
            server.http_url + "/v1/audio/transcriptions",
            headers={"Authorization": "Bearer voice-token"},
            files={"model": (None, "whisper-1")},
        )
        refused = await http.post(
            server.http_url + "/v1/audio/transcriptions", files={"file": ("q.wav", b"RIFF")}
        )
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "file"
    assert refused.status_code == 401


async def test_chat_completions_hear_an_input_audio_part(
    fake_llm: FakeLLM, listening_server: Listener
) -> None:
    _server, client = await listening_server()
    fake_llm.enqueue(Reply(chunks=["Seven."]), Reply(chunks=["Still seven."]))
    pcm = await spoken(SENTENCE)
    formats = [("wav", wav_file(pcm))]
    if shutil.which("ffmpeg"):
        formats.append(("mp3", mp3_file(pcm)))
    for fmt, data in formats:
        audio_part: dict[str, Any] = {"data": base64.b64encode(data).decode(), "format": fmt}
        messages: list[Any] = [
            {"role": "user", "content": [{"type": "input_audio", "input_audio": audio_part}]}
        ]
        answer = await client.chat.completions.create(
            model="talkterm",
            messages=messages,
        )
        assert answer.choices[0].message.content in ("Seven.", "Still seven.")
        assert heard_as(SENTENCE, user_words(fake_llm.chat_requests[-1].json)), fmt


async def test_chat_completions_refuse_silence_and_bad_audio(
    fake_llm: FakeLLM, listening_server: Listener
) -> None:
    _server, client = await listening_server()
    for data, fmt, code in [
        (wav_file(silence(1.5)), "wav", "no_speech"),
        (b"not audio at all", "wav", "invalid_value"),
        (b"RIFF", "flac", "invalid_value"),
    ]:
        part = {"data": base64.b64encode(data).decode(), "format": fmt}
        messages: list[Any] = [
            {"role": "user", "content": [{"type": "input_audio", "input_audio": part}]}
        ]
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="talkterm", messages=messages)
        assert caught.value.code == code, caught.value.message
    assert fake_llm.chat_requests == []


async def test_a_file_over_the_cap_is_refused(listening_server: Listener) -> None:
    _server, client = await listening_server(stt__max_upload_bytes=65536)
    big = wav_file(await spoken(SENTENCE))  # ~100 KB of WAV
    with pytest.raises(openai.BadRequestError) as caught:
        await client.audio.transcriptions.create(model="whisper-1", file=("q.wav", big))
    assert caught.value.code == "file_too_large"
