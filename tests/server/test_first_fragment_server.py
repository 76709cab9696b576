"""A long opening sentence is heard before its full stop has even been streamed (issue 17).

Real server, real speech engines, the fake upstream: the upstream holds back the rest
of the first sentence until the client has heard audio, so the order of events (not
a stopwatch) says whether speech waited for the sentence to end.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from server import protocol as p
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client, Received
from tests.helpers.server import ServerFactory

pytestmark = pytest.mark.timeout(120)

ANSWER = "The quick brown fox jumps over the lazy dog. It ran off into the woods."
SPEECH = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"}}


def held_reply(heard: asyncio.Event) -> Reply:
    """The answer, its first full stop held back until ``heard`` is set.

    At most 3 s, under the server's 5 s read timeout in tests, so the old rule fails
    on the order of events rather than on a timeout.
    """
    pieces = chunk_text(ANSWER)
    full_stop = next(index for index, piece in enumerate(pieces) if "." in piece)
    return Reply(chunks=pieces, hold=heard, hold_at=full_stop, hold_s=3)


def text_before_first_audio(got: Received) -> str:
    kinds = (p.TEXT_DELTA, p.TRANSCRIPT_DELTA)
    first_audio = got.types().index(p.AUDIO_DELTA)
    return "".join(e["delta"] for e in got.events[:first_audio] if e["type"] in kinds)


@pytest.mark.parametrize("tts", ["piper", "espeak"])
async def test_the_opening_words_are_heard_before_the_sentence_ends(
    fake_llm: FakeLLM, start_server: ServerFactory, tts: str
) -> None:
    server = await start_server(tts=tts)
    client = await Client.open(server.ws_url, extensions=True)  # segments, as the app
    heard = asyncio.Event()
    fake_llm.enqueue(held_reply(heard))
    await client.ask("Hi")
    got = await client.read_until(p.AUDIO_DELTA)
    heard.set()
    got = await client.collect(got)
    await client.close()
    assert "." not in text_before_first_audio(got)
    assert got.text() == ANSWER
    segments = got.of(p.AUDIO_SEGMENT)
    assert [s["text"] for s in segments] == [
        "The quick",
        " brown fox jumps over",
        " the lazy dog.",
        " It ran off into the woods.",
    ]
    ends = [s["char_start"] for s in segments[1:]]
    assert [(s["char_start"], s["char_end"]) for s in segments] == list(
        zip([0, *ends], [*ends, len(ANSWER)], strict=True)
    )
    assert got.done["status"] == "completed"


async def test_over_http_streaming_too(fake_llm: FakeLLM, start_server: ServerFactory) -> None:
    server = await start_server(tts="piper")
    heard = asyncio.Event()
    fake_llm.enqueue(held_reply(heard))
    transcript, before_audio = "", None
    body = {"model": "x", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream("POST", f"{server.http_url}/v1/chat/completions", json=body | SPEECH) as got,
    ):
        async for line in got.aiter_lines():
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line.removeprefix("data: "))["choices"]
            audio = choices[0]["delta"].get("audio", {}) if choices else {}
            transcript += audio.get("transcript", "")
            if "data" in audio and before_audio is None:
                before_audio = transcript
                heard.set()
    assert before_audio is not None and "." not in before_audio
    assert transcript == ANSWER
