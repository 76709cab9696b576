"""Bad voice input gets a clear error that names it, and the session goes on: the next
spoken turn is still heard."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from server import protocol as p
from server.app import Server
from server.speech.audio_format import make_encoder
from tests.fakes.llm_upstream import FakeLLM
from tests.helpers.client import Client
from tests.helpers.resume import resume_url
from tests.helpers.server import ServerFactory
from tests.helpers.voice import heard_as, pieces, silence, spoken, wer

pytestmark = pytest.mark.timeout(120)

SENTENCE = "How many days are there in a week?"
TELEPHONE = "Turn on the lights in the kitchen please."
PUSH_TO_TALK = {"audio": {"input": {"turn_detection": None}}}


@pytest.fixture
async def listener(start_server: ServerFactory) -> Server:
    """A server with the real recognizer, loaded."""
    server = await start_server(stt="faster-whisper")
    await server.listening_ready()
    return server


async def update(client: Client, session: dict[str, Any]) -> dict[str, Any]:
    """Send a session.update; its first error, else its session.updated (which follows the
    errors, as the good fields beside a bad one still apply)."""
    await client.send({"type": p.SESSION_UPDATE, "session": {"type": "realtime", **session}})
    first: dict[str, Any] | None = None
    while True:
        event = await client.recv()
        assert isinstance(event, dict)
        if event["type"] == p.ERROR and first is None:
            first = event
        if event["type"] == p.SESSION_UPDATED:
            return first or event


async def append(client: Client, audio: str, event_id: str = "evt_1") -> None:
    """One input_audio_buffer.append."""
    await client.send({"type": p.INPUT_APPEND, "audio": audio, "event_id": event_id})


async def say_and_hear(client: Client, pcm: bytes) -> str:
    """Push-to-talk a turn; the words heard."""
    for piece in pieces(pcm):
        await append(client, piece)
    await client.send({"type": p.INPUT_COMMIT})
    done = await client.expect("conversation.item.input_audio_transcription.completed", 30)
    return str(done["transcript"])


async def test_each_bad_append_is_named_and_the_turn_after_is_heard(listener: Server) -> None:
    client = await Client.open(listener.ws_url)
    assert client.session["session"]["talkterm"]["listen"]["available"] is True
    assert (await update(client, PUSH_TO_TALK))["type"] == p.SESSION_UPDATED
    cases = [
        ("!!not base64!!", "invalid_base64"),
        (base64.b64encode(b"\x01\x02\x03").decode(), "invalid_audio_format"),
        (base64.b64encode(silence(16)).decode(), "input_audio_append_too_large"),
    ]
    for audio, code in cases:
        await append(client, audio, event_id=f"evt_{code}")
        error = await client.expect(p.ERROR)
        assert error["error"]["code"] == code
        assert error["error"]["event_id"] == f"evt_{code}"
        assert error["error"]["param"] == "audio"
    # A 10 ms commit is too short to be a turn.
    await append(client, base64.b64encode(silence(0.01)).decode())
    await client.send({"type": p.INPUT_COMMIT, "event_id": "evt_short"})
    error = await client.expect(p.ERROR)
    assert error["error"]["code"] == "input_audio_buffer_commit_empty"
    assert "10.00ms" in error["error"]["message"]
    # None of it was kept: the next turn is heard whole.
    await client.send({"type": p.INPUT_CLEAR})
    await client.expect(p.INPUT_CLEARED)
    assert heard_as(SENTENCE, await say_and_hear(client, await spoken(SENTENCE)))
    await client.close()


async def test_a_wrong_input_format_is_refused_whole(listener: Server) -> None:
    client = await Client.open(listener.ws_url, extensions=True)  # notices, as the app
    wrong_rate = {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}
    error = await update(client, wrong_rate)
    assert error["type"] == p.ERROR
    assert error["error"]["param"] == "session.audio.input.format.rate"
    assert "24000" in error["error"]["message"]
    bad_vad = {"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 3}}}}
    error = await update(client, bad_vad)
    assert error["error"]["param"] == "session.audio.input.turn_detection.threshold"
    semantic = {"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}
    await client.send({"type": p.SESSION_UPDATE, "session": {"type": "realtime", **semantic}})
    notice = await client.expect(p.NOTICE)
    assert notice["code"] == p.SEMANTIC_VAD_APPROXIMATED
    updated = await client.expect(p.SESSION_UPDATED)
    detection = updated["session"]["audio"]["input"]["turn_detection"]
    assert detection["type"] == "semantic_vad"
    await client.close()


async def test_g711_input_is_heard(listener: Server) -> None:
    client = await Client.open(listener.ws_url)
    ulaw = {"audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": None}}}
    assert (await update(client, ulaw))["type"] == p.SESSION_UPDATED
    # The server's own G.711 encoder (low-pass filtered): a telephone line, not aliasing.
    encoder = make_encoder("audio/pcmu")
    encoded = encoder.encode(await spoken(TELEPHONE))
    for start in range(0, len(encoded), 320):
        await append(client, base64.b64encode(encoded[start : start + 320]).decode())
    await client.send({"type": p.INPUT_COMMIT})
    done = await client.expect("conversation.item.input_audio_transcription.completed", 30)
    # Telephone audio (8 kHz, 8-bit law): one word in ten may go, as a contraction did.
    assert wer(TELEPHONE, done["transcript"]) <= 0.15, done["transcript"]
    await client.close()


async def test_a_clear_mid_turn_drops_it(fake_llm: FakeLLM, listener: Server) -> None:
    client = await Client.open(listener.ws_url)
    audio = await spoken(SENTENCE)
    for piece in pieces(audio[: len(audio) // 4 * 2]):
        await append(client, piece)
    await client.expect(p.SPEECH_STARTED)
    await client.send({"type": p.INPUT_CLEAR})
    await client.expect(p.INPUT_CLEARED)
    # Silence after the clear ends no turn: nothing was committed, nothing asked.
    for piece in pieces(silence(1.0)):
        await append(client, piece)
    late = [f for f in await client.quiet_for(1.0) if p.INPUT_COMMITTED in str(f)]
    assert late == [] and fake_llm.chat_requests == []
    await client.close()


async def test_appends_with_no_engine_say_voice_input_is_off(start_server: ServerFactory) -> None:
    server = await start_server(stt="none")
    client = await Client.open(server.ws_url)
    listen = client.session["session"]["talkterm"]["listen"]
    assert listen == {
        "available": False,
        "engine": "none",
        "model": None,
        "problem": "Voice input is off on this server (--stt none).",
    }
    await append(client, base64.b64encode(silence(0.1)).decode())
    error = await client.expect(p.ERROR)
    assert error["error"]["code"] == "stt_unavailable"
    assert "--stt none" in error["error"]["message"]
    # Typing still works.
    await client.send(p.user_text_item("hello"))
    await client.expect(p.ITEM_DONE)
    await client.close()


async def test_a_link_that_drops_mid_turn_asks_to_say_it_again(listener: Server) -> None:
    client = await Client.open(listener.ws_url, extensions=True)  # notices, as the app
    audio = await spoken(SENTENCE)
    for piece in pieces(audio[: len(audio) // 4 * 2]):
        await append(client, piece)
    started = await client.expect(p.SPEECH_STARTED)
    session_id = client.session["session"]["id"]
    await client.ws.close()  # the link drops
    again = await Client.open(resume_url(listener, session_id, 0), expect=p.SESSION_RESUMED)
    events: list[dict[str, Any]] = []
    while not any(e["type"] == p.NOTICE for e in events):
        event = await again.recv()
        assert isinstance(event, dict)
        events.append(event)
    kinds = [e["type"] for e in events]
    assert p.SPEECH_STARTED in kinds and kinds[-2:] == [p.INPUT_CLEARED, p.NOTICE]
    assert events[0]["seq"] < events[-1]["seq"]  # numbered, replayed in order
    notice = events[-1]
    assert notice["code"] == p.INPUT_AUDIO_INTERRUPTED and "say it again" in notice["message"]
    assert started["item_id"]
    await again.close()
