"""The language of the speech comes from the session (``audio.input.transcription.language``):
it reaches the remote recognizer's request; a code no recognizer knows, or one the
English-only tiny.en cannot hear, is refused in plain words and the rest goes on."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI, BadRequestError

from server import protocol as p
from server.app import Server
from server.listen.remote import wav_bytes
from server.session.turns import to_listen_rate
from tests.fakes.transcription_upstream import FakeTranscriber
from tests.helpers.client import Client
from tests.helpers.server import ServerFactory
from tests.helpers.voice import pieces, spoken

pytestmark = pytest.mark.timeout(120)

SENTENCE = "Good morning to you."


def heard_in(language: str | None, prompt: str = "") -> dict[str, Any]:
    """A session.update asking for push-to-talk and ``language``."""
    transcription = {"language": language} | ({"prompt": prompt} if prompt else {})
    audio = {"input": {"turn_detection": None, "transcription": transcription}}
    return {"type": p.SESSION_UPDATE, "session": {"type": "realtime", "audio": audio}}


async def updated(client: Client, update: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    """Send ``update``; the errors it got and the session's transcription after it."""
    await client.send(update)
    errors = []
    while True:
        event = await client.recv()
        assert isinstance(event, dict)
        if event["type"] == p.ERROR:
            errors.append(event["error"])
        elif event["type"] == p.SESSION_UPDATED:
            return errors, event["session"]["audio"]["input"]["transcription"]


async def talk(client: Client, pcm: bytes) -> dict[str, Any]:
    """Push-to-talk ``pcm``; the transcription's end event."""
    for piece in pieces(pcm):
        await client.send({"type": p.INPUT_APPEND, "audio": piece})
    await client.send({"type": p.INPUT_COMMIT})
    while True:
        event = await client.recv(timeout=30)
        if isinstance(event, dict) and event["type"] in (p.HEARD_COMPLETED, p.HEARD_FAILED):
            return event


def field(body: bytes, name: str) -> bytes | None:
    """A multipart form field's value, as the recognizer received it."""
    marker = f'name="{name}"\r\n\r\n'.encode()
    if marker not in body:
        return None
    return body.split(marker, 1)[1].split(b"\r\n", 1)[0]


async def test_the_session_language_reaches_the_remote_recognizer(
    start_server: ServerFactory,
) -> None:
    async with FakeTranscriber("stream") as fake:
        server = await start_server(
            stt="openai", stt_base_url=fake.base_url, stt_api_key="sk-x", stt_language="fr"
        )
        client = await Client.open(server.ws_url)
        errors, _ = await updated(client, heard_in(None))
        assert errors == []
        await talk(client, await spoken(SENTENCE))
        errors, transcription = await updated(client, heard_in("de", prompt="Guten Morgen"))
        assert errors == [] and transcription["language"] == "de"
        await talk(client, await spoken(SENTENCE))
        await client.close()
    # First the server's own language, then the session's choice, with its prompt.
    assert field(fake.requests[0], "language") == b"fr"
    assert field(fake.requests[1], "language") == b"de"
    assert field(fake.requests[1], "prompt") == b"Guten Morgen"


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("xx", "'xx' is not a language code a recognizer knows; use ISO 639-1"),
        ("DE", "language codes are lower case: 'de', not 'DE'"),
        ("english", "'english' is not a language code"),
    ],
)
async def test_a_language_no_recognizer_knows_is_refused(
    start_server: ServerFactory, language: str, said: str
) -> None:
    async with FakeTranscriber("stream") as fake:
        server = await start_server(stt="openai", stt_base_url=fake.base_url, stt_api_key="k")
        client = await Client.open(server.ws_url)
        await updated(client, heard_in("it"))
        errors, transcription = await updated(client, heard_in(language))
        assert [e["param"] for e in errors] == ["session.audio.input.transcription.language"]
        assert said in errors[0]["message"]
        # The language it had stays, and turns are still heard in it.
        assert transcription["language"] == "it"
        done = await talk(client, await spoken(SENTENCE))
        assert done["type"] == p.HEARD_COMPLETED
        await client.close()
    assert field(fake.requests[-1], "language") == b"it"


@pytest.fixture
async def english_only(start_server: ServerFactory) -> Server:
    """The offline recognizer, tiny.en."""
    server = await start_server(stt="faster-whisper")
    await server.listening_ready()
    return server


async def test_tiny_en_says_it_hears_only_english(english_only: Server) -> None:
    client = await Client.open(english_only.ws_url)
    errors, transcription = await updated(client, heard_in("de"))
    assert len(errors) == 1 and "hears only English" in errors[0]["message"]
    assert transcription["language"] is None
    errors, transcription = await updated(client, heard_in("en"))
    assert errors == [] and transcription["language"] == "en"
    done = await talk(client, await spoken(SENTENCE))
    assert done["type"] == p.HEARD_COMPLETED and "morning" in done["transcript"].lower()
    await client.close()


async def test_http_transcriptions_pass_the_language_on_and_refuse_a_bad_one(
    start_server: ServerFactory,
) -> None:
    async with FakeTranscriber("stream") as fake:
        server = await start_server(stt="openai", stt_base_url=fake.base_url, stt_api_key="k")
        sdk = AsyncOpenAI(api_key="unused", base_url=server.http_url + "/v1")
        wav = wav_bytes(to_listen_rate(await spoken(SENTENCE), 24_000))
        await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav), language="nl")
        with pytest.raises(BadRequestError) as refused:
            await sdk.audio.transcriptions.create(
                model="whisper-1", file=("a.wav", wav), language="xx"
            )
    assert field(fake.requests[0], "language") == b"nl"
    assert len(fake.requests) == 1  # the bad one never reached the recognizer
    assert "'xx' is not a language code" in str(refused.value)
