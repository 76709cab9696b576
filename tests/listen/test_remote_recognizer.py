"""The remote engine: any OpenAI-compatible /v1/audio/transcriptions. Another talkterm
server (real faster-whisper behind it) as the good case; a hostile fake for the bad."""

from __future__ import annotations

from typing import Any

import pytest

from server import protocol as p
from server.app import Server
from tests.fakes.llm_upstream import FakeLLM
from tests.fakes.transcription_upstream import STREAMED, FakeTranscriber, Mode
from tests.helpers.client import Client
from tests.helpers.server import ServerFactory
from tests.helpers.voice import heard_as, pieces, spoken

pytestmark = pytest.mark.timeout(120)

SENTENCE = "Can you recommend a good book to read?"
PUSH_TO_TALK = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}


async def talk(server: Server, pcm: bytes) -> list[dict[str, Any]]:
    """Push-to-talk ``pcm``; the input events up to the transcription's end, in order."""
    client = await Client.open(server.ws_url)
    await client.send({"type": p.SESSION_UPDATE, "session": PUSH_TO_TALK})
    await client.expect(p.SESSION_UPDATED)
    for piece in pieces(pcm):
        await client.send({"type": p.INPUT_APPEND, "audio": piece})
    await client.send({"type": p.INPUT_COMMIT})
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] not in (p.HEARD_COMPLETED, p.HEARD_FAILED):
        event = await client.recv(timeout=30)
        assert isinstance(event, dict)
        events.append(event)
    # The session goes on: typed text still works.
    await client.send(p.user_text_item("still here?"))
    await client.expect(p.ITEM_DONE)
    await client.close()
    return events


async def test_another_talkterm_as_the_recognizer(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    behind = await start_server(stt="faster-whisper", token="behind-token")
    await behind.listening_ready()
    front = await start_server(
        stt="openai", stt_base_url=behind.http_url + "/v1", stt_api_key="behind-token"
    )
    events = await talk(front, await spoken(SENTENCE))
    assert events[-1]["type"] == p.HEARD_COMPLETED
    assert heard_as(SENTENCE, events[-1]["transcript"])


async def test_streamed_deltas_are_passed_on(start_server: ServerFactory) -> None:
    async with FakeTranscriber("stream") as fake:
        server = await start_server(
            stt="openai",
            stt_base_url=fake.base_url,
            stt_api_key="sk-remote-SECRET-1234",
            stt__openai__stream=True,
        )
        events = await talk(server, await spoken(SENTENCE))
    deltas = [e["delta"] for e in events if e["type"] == p.HEARD_DELTA]
    assert deltas == STREAMED
    assert events[-1]["transcript"] == "".join(STREAMED)
    assert b'name="stream"' in fake.requests[0] and b"RIFF" in fake.requests[0]
    assert "Bearer sk-remote-SECRET-1234" in fake.headers[0]


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("stall", "did not finish within 1 s"),
        ("error", "answered HTTP 500: The recognizer fell over."),
        ("endless", "larger than 4096 bytes"),
    ],
)
async def test_a_bad_remote_recognizer_fails_the_turn_in_plain_words(
    start_server: ServerFactory, mode: Mode, said: str
) -> None:
    async with FakeTranscriber(mode) as fake:
        server = await start_server(
            stt="openai",
            stt_base_url=fake.base_url,
            stt_api_key="sk-remote-SECRET-1234",
            stt__openai__deadline=1.0,
            stt__openai__max_response_bytes=4096,
        )
        events = await talk(server, await spoken(SENTENCE))
    failed = events[-1]
    assert failed["type"] == p.HEARD_FAILED
    assert failed["error"]["code"] == "transcription_failed"
    assert said in failed["error"]["message"]
    assert "SECRET" not in str(events)


async def test_no_key_reaches_a_third_party_from_openai_api_key(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-SECRET-5678")
    async with FakeTranscriber("stream") as fake:
        server = await start_server(stt="openai", stt_base_url=fake.base_url)
        await talk(server, await spoken(SENTENCE))
    assert "SECRET" not in fake.headers[0]
