"""The server speaking with Piper over a real WebSocket, and falling back when it cannot."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from server import protocol as p
from server.speech.piper import DEFAULT_VOICE
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client, connected
from tests.helpers.server import ServerFactory

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

pytestmark = pytest.mark.timeout(120)

ANSWER = "Sure, here is the answer. Piper reads it aloud, sentence by sentence."


async def test_piper_speaks_an_answer(fake_llm: FakeLLM, start_server: ServerFactory) -> None:
    server = await start_server(tts="piper")
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
    async with connected(server.ws_url, extensions=True) as client:
        ext = client.session["session"]["talkterm"]
        got = await client.answer("Hi")
    assert (ext["tts"], ext["voice"]) == ("piper", DEFAULT_VOICE)
    assert got.text() == ANSWER
    assert got.done["status"] == "completed"
    assert [s["text"].strip() for s in got.of(p.AUDIO_SEGMENT)][-1].endswith("by sentence.")
    assert 2.5 < len(got.audio) / (p.PCM_RATE * 2) < 10
    assert audioop.rms(bytes(got.audio), 2) > 1000


async def test_bad_voice_at_session_update_lists_valid_ones(start_server: ServerFactory) -> None:
    server = await start_server(tts="piper")
    client = await Client.open(server.ws_url)
    voice = {"audio": {"output": {"voice": "en_XX-nobody-low"}}}
    await client.send({"type": p.SESSION_UPDATE, "session": voice})
    error = (await client.expect(p.ERROR))["error"]
    assert error["param"] == "session.audio.output.voice"
    assert "en_XX-nobody-low" in error["message"] and DEFAULT_VOICE in error["message"]
    # The rest of the update applies; the voice stays what it was.
    assert (await client.expect(p.SESSION_UPDATED))["session"]["audio"]["output"]["voice"] is None
    for fine in ("alloy", DEFAULT_VOICE):
        await client.send(
            {"type": p.SESSION_UPDATE, "session": {"audio": {"output": {"voice": fine}}}}
        )
        assert (await client.expect(p.SESSION_UPDATED))["session"]["audio"]["output"]["voice"]
    await client.close()


@pytest.mark.parametrize("why", ["missing voice", "broken model"])
async def test_piper_that_cannot_load_falls_back_to_espeak(
    fake_llm: FakeLLM,
    start_server: ServerFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    why: str,
) -> None:
    voice = "en_US-missing-medium"
    if why == "broken model":
        (tmp_path / "broken.onnx").write_bytes(b"not a model")
        (tmp_path / "broken.onnx.json").write_text("{}")
        voice = str(tmp_path / "broken.onnx")
    with caplog.at_level(logging.WARNING):
        server = await start_server(tts="piper", voice=voice)
    said = [r.getMessage() for r in caplog.records if "falling back to espeak-ng" in r.getMessage()]
    assert len(said) == 1, caplog.text  # one line, saying why
    assert ("valid voices" if why == "missing voice" else "cannot load") in said[0]
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
    async with connected(server.ws_url) as client:
        got = await client.answer("Hi")
    assert client.session["session"]["talkterm"]["tts"] == "espeak"
    assert got.of(p.ERROR) == []
    assert audioop.rms(bytes(got.audio), 2) > 300
