"""Speech through an OpenAI-compatible /v1/audio/speech endpoint, and speech failures."""

from __future__ import annotations

import audioop
import stat
from pathlib import Path

import pytest

from server import protocol as p
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.fakes.speech_upstream import SpeechUpstream
from tests.helpers.client import answer_once, connected

ANSWER = "Speech comes from the endpoint. Each sentence is one request."


@pytest.mark.parametrize("fmt", ["pcm", "mp3"])
async def test_openai_speech_endpoint(fake_llm: FakeLLM, start_server, fmt: str) -> None:
    async with SpeechUpstream() as speech:
        server = await start_server(tts="openai", tts_base_url=speech.base_url, tts_format=fmt)
        fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
        async with connected(server.ws_url) as client:
            got = await client.answer("Hi")
    assert client.session["session"]["talkterm"]["tts"] == "openai"
    assert got.text() == ANSWER
    assert [(r.json or {}).get("input") for r in speech.requests] == [
        "Speech comes from the endpoint.",
        "Each sentence is one request.",
    ]
    assert 1.5 < len(got.audio) / (p.PCM_RATE * 2) < 10
    assert audioop.rms(bytes(got.audio), 2) > 300


async def test_speech_endpoint_failure_keeps_the_text(fake_llm: FakeLLM, start_server) -> None:
    async with SpeechUpstream() as speech:
        speech.fail(500)
        server = await start_server(tts="openai", tts_base_url=speech.base_url)
        fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
        got = await answer_once(server.ws_url, "Hi")
    assert got.text() == ANSWER
    assert got.done["status"] == "completed"
    errors = got.of(p.ERROR)
    assert [e["error"]["code"] for e in errors] == ["tts_failed"]
    assert "500" in errors[0]["error"]["message"] and "text" in errors[0]["error"]["message"]


async def test_espeak_crashing_midway_keeps_the_text(
    fake_llm: FakeLLM, start_server, tmp_path: Path
) -> None:
    crashing = tmp_path / "espeak-ng"
    crashing.write_text("#!/bin/sh\nhead -c 100 /dev/zero\necho 'segfault' >&2\nexit 139\n")
    crashing.chmod(crashing.stat().st_mode | stat.S_IEXEC)
    server = await start_server(espeak_executable=str(crashing))
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
    got = await answer_once(server.ws_url, "Hi")
    assert got.text() == ANSWER
    assert got.done["status"] == "completed"
    assert [e["error"]["code"] for e in got.of(p.ERROR)] == ["tts_failed"]
