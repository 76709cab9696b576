"""OpenAISpeechTTS against a fake /v1/audio/speech server that returns real audio."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from server.errors import TTSError, TTSUnavailable
from server.speech import make_tts
from server.speech.openai_speech import OpenAISpeechTTS
from tests.fakes.speech_upstream import SpeechUpstream

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

pytestmark = pytest.mark.timeout(60)

KEY = "sk-test-SECRET0123456789abcdef"
TEXT = "Hello from the fake speech server."
BYTES_PER_SECOND = 24_000 * 2
LONG_TEXT = " ".join(f"Sentence {i} of a long answer." for i in range(60))


@pytest.fixture
async def upstream() -> AsyncIterator[SpeechUpstream]:
    """A running fake speech server."""
    async with SpeechUpstream() as fake:
        yield fake


@pytest.fixture
async def make(upstream: SpeechUpstream) -> AsyncIterator[Callable[..., OpenAISpeechTTS]]:
    """A factory of providers pointed at the fake, closed after the test."""
    made: list[OpenAISpeechTTS] = []

    def build(**options: Any) -> OpenAISpeechTTS:
        options = {"base_url": upstream.base_url, "api_key": KEY, **options}
        tts = OpenAISpeechTTS(**options)
        made.append(tts)
        return tts

    yield build
    for tts in made:
        await tts.aclose()


async def speak(tts: OpenAISpeechTTS, text: str = TEXT, **options: Any) -> list[bytes]:
    """All chunks the provider yields for ``text``."""
    return [chunk async for chunk in tts.synthesize(text, **options)]


@pytest.mark.parametrize("fmt", ["pcm", "wav", "mp3", "opus", "aac", "flac"])
async def test_every_format_gives_24_khz_pcm(upstream: SpeechUpstream, make, fmt: str) -> None:
    chunks = await speak(make(response_format=fmt))
    pcm = b"".join(chunks)
    reference = await upstream.render(TEXT, "pcm")  # what 24 kHz PCM of this text is
    assert all(chunk and len(chunk) % 2 == 0 for chunk in chunks)
    assert audioop.rms(pcm, 2) > 500
    # Same duration as the 24 kHz reference (compressed codecs add a little padding).
    assert abs(len(pcm) - len(reference)) / BYTES_PER_SECOND < 0.15
    assert upstream.requests[-1].json == {
        "model": "tts-1",
        "input": TEXT,
        "voice": "alloy",
        "response_format": fmt,
    }


async def test_pcm_passes_through_byte_for_byte_across_odd_chunks(
    upstream: SpeechUpstream, make
) -> None:
    assert upstream.chunk_size % 2 == 1  # samples straddle HTTP chunks
    chunks = await speak(make(response_format="pcm"))
    assert len(chunks) > 3
    assert b"".join(chunks) == await upstream.render(TEXT, "pcm")


@pytest.mark.parametrize("rate", [16_000, 22_050, 44_100])
async def test_wav_at_other_rates_is_resampled(upstream: SpeechUpstream, make, rate: int) -> None:
    upstream.rate = rate
    pcm = b"".join(await speak(make(response_format="wav")))
    reference = await upstream.render(TEXT, "pcm")
    assert abs(len(pcm) - len(reference)) / BYTES_PER_SECOND < 0.01


async def test_request_carries_key_model_and_per_call_voice(upstream: SpeechUpstream, make) -> None:
    tts = make(model="kokoro", voice="af_bella")
    await speak(tts, voice="am_adam")
    request = upstream.requests[-1]
    assert request.method == "POST"
    assert request.path == "/v1/audio/speech"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json is not None
    assert (request.json["model"], request.json["voice"]) == ("kokoro", "am_adam")


async def test_no_key_sends_no_authorization(upstream: SpeechUpstream, make) -> None:
    await speak(make(api_key=None))
    assert "authorization" not in upstream.requests[-1].headers


async def test_connections_are_reused_between_segments(upstream: SpeechUpstream, make) -> None:
    tts = make()
    for _ in range(3):
        await speak(tts, "Short one.")
    assert len(upstream.requests) == 3
    assert upstream.connections == 1


async def test_first_chunk_streams_before_the_response_ends(upstream: SpeechUpstream, make) -> None:
    upstream.stall_after = 2  # the fake sends two chunks and then waits for ever
    stream = make().synthesize(LONG_TEXT)
    try:
        first = await asyncio.wait_for(anext(stream), 10)
        assert first
    finally:
        await stream.aclose()


async def test_closing_the_stream_hangs_up_on_the_server(upstream: SpeechUpstream, make) -> None:
    upstream.stall_after = 2
    stream = make().synthesize(LONG_TEXT)
    await asyncio.wait_for(anext(stream), 10)
    assert upstream.disconnects == 0
    await stream.aclose()
    await asyncio.wait_for(upstream.disconnected.wait(), 10)
    assert upstream.disconnects == 1


async def test_cancelling_the_consumer_hangs_up_on_the_server(
    upstream: SpeechUpstream, make
) -> None:
    upstream.stall_after = 3
    started = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(make().synthesize(LONG_TEXT)) as stream:
            async for _chunk in stream:
                started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(upstream.disconnected.wait(), 10)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": {"message": f"Incorrect API key provided: {KEY}"}}, "check the"),
        (404, {"detail": "Model 'tts-9' not found"}, "Model 'tts-9' not found"),
        (429, {"error": {"message": "Slow down"}}, "Slow down"),
        (500, "Internal <b>error</b> while using Bearer " + KEY, "Internal"),
        (503, "", "Fake"),
    ],
)
async def test_http_errors_name_the_status_and_never_the_key(
    upstream: SpeechUpstream, make, status: int, body: Any, expected: str
) -> None:
    upstream.fail(status, body)
    with pytest.raises(TTSError) as caught:
        await speak(make())
    message = str(caught.value)
    assert not isinstance(caught.value, TTSUnavailable)
    assert message.startswith(f"speech endpoint answered {status}: ")
    assert expected in message
    assert KEY not in message
    assert KEY[8:20] not in message


async def test_a_key_of_any_shape_is_scrubbed_from_errors(upstream: SpeechUpstream, make) -> None:
    key = "kokoro_live_9f8e7d6c5b4a"  # no "sk-" prefix to recognise it by
    upstream.fail(403, {"detail": f"key {key} may not use this voice"})
    with pytest.raises(TTSError) as caught:
        await speak(make(api_key=key))
    assert "403" in str(caught.value)
    assert "may not use this voice" in str(caught.value)
    assert key not in str(caught.value)


async def test_recovers_after_an_error(upstream: SpeechUpstream, make) -> None:
    tts = make()
    upstream.fail(500)
    with pytest.raises(TTSError):
        await speak(tts)
    upstream.recover()
    assert b"".join(await speak(tts))


def closed_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_unreachable_endpoint_is_unavailable() -> None:
    tts = OpenAISpeechTTS(f"http://user:pw@127.0.0.1:{closed_port()}/v1", api_key=KEY)
    try:
        with pytest.raises(TTSUnavailable) as caught:
            await speak(tts)
    finally:
        await tts.aclose()
    message = str(caught.value)
    assert "cannot reach the speech endpoint" in message
    assert KEY not in message
    assert "pw" not in message


async def test_a_silent_server_times_out(upstream: SpeechUpstream, make) -> None:
    upstream.stall_after = 0
    with pytest.raises(TTSError, match="sent nothing"):
        await speak(make(read_timeout=0.5))


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
async def test_audio_that_cannot_be_decoded_is_a_tts_error(
    upstream: SpeechUpstream, make, fmt: str
) -> None:
    upstream.fail(200, "this is not audio at all, sorry")
    with pytest.raises(TTSError, match=r"malformed|undecodable"):
        await speak(make(response_format=fmt))


def test_unknown_response_format_is_refused() -> None:
    with pytest.raises(ValueError, match="response_format"):
        OpenAISpeechTTS("http://127.0.0.1:1/v1", response_format="midi")


async def test_registry_builds_the_openai_provider(upstream: SpeechUpstream) -> None:
    tts = make_tts("openai", base_url=upstream.base_url + "/", voice="nova")
    try:
        assert isinstance(tts, OpenAISpeechTTS)
        assert tts.name == "openai"
        assert b"".join(await speak(tts))
        assert upstream.requests[-1].path == "/v1/audio/speech"
    finally:
        await tts.aclose()
