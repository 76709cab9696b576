"""The speech endpoint's answer is read under a byte cap: one that never ends (streamed
PCM, or a whole mp3 that keeps coming) fails that sentence in plain words, and reading
stops at the cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from server.errors import TTSError
from server.speech import openai_speech
from server.speech.openai_speech import OpenAISpeechTTS

PIECE = b"\0" * 65536


class EndlessSpeech:
    """A speech endpoint whose every answer is an endless chunked body."""

    def __init__(self) -> None:
        self.sent = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: audio/pcm\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        try:
            while True:
                writer.write(f"{len(PIECE):x}\r\n".encode() + PIECE + b"\r\n")
                await writer.drain()
                self.sent += len(PIECE)
        except ConnectionError:
            pass
        finally:
            writer.close()


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    """A 2 MB cap, so the test reads megabytes rather than the real cap's 28."""
    monkeypatch.setattr(openai_speech, "SPEECH_MAX_BYTES", 2 << 20)
    return 2 << 20


async def drain(chunks: AsyncIterator[bytes]) -> int:
    return sum([len(c) async for c in chunks])


@pytest.mark.parametrize("response_format", ["pcm", "mp3"])
async def test_an_endless_speech_answer_is_cut_at_the_cap(
    small_cap: int, response_format: str
) -> None:
    endless = EndlessSpeech()
    async with endless as base_url:
        tts = OpenAISpeechTTS(base_url, response_format=response_format)
        with pytest.raises(TTSError, match="the rest was not read"):
            await asyncio.wait_for(drain(tts.synthesize("Hello there.")), 20)
        await tts.aclose()
    assert endless.sent < small_cap + (16 << 20)  # the cap plus what sockets hold
