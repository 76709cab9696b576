"""OpenAI-compatible ``/audio/speech`` endpoints (OpenAI, Kokoro-FastAPI, ...)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator
from typing import Any, Protocol, Self

import httpx

from server.config import Settings, tts_key
from server.errors import TTSError, TTSUnavailable
from server.log_scrub import redact
from server.protocol import PCM_RATE
from server.speech import TTSProvider
from server.speech.audio_format import PcmConverter, WavStreamDecoder, decode_to_pcm24k
from server.upstream_pool import PoolShards
from server.upstream_read import ReadRefused, read_body

STREAMED_FORMATS = frozenset({"pcm", "wav"})
DECODED_FORMATS = frozenset({"mp3", "opus", "aac", "flac"})
# Decoded segments are handed on in 100 ms pieces, about what streamed ones arrive in.
_PIECE = PCM_RATE * 2 // 10
SPEECH_MAX_BYTES = 10 * 60 * PCM_RATE * 2
"""Ten minutes of 24 kHz PCM (or that many bytes of a compressed format) for one sentence."""
SPEECH_DEADLINE_S = 300.0
"""Seconds one sentence's speech may take in all, error bodies included."""
_ERROR_BODY_LIMIT = 4096
_KEYLIKE = re.compile(r"(sk-|Bearer\s+)[A-Za-z0-9_\-*.]{6,}")
_HINTS = {
    401: " (check the speech API key)",
    403: " (the speech API key may lack access to this model)",
    404: " (check the speech base URL and model name)",
    429: " (rate limited; try again later)",
}


class _Decoder(Protocol):
    def feed(self, data: bytes) -> bytes:
        """Return the PCM that ``data`` completes."""
        ...

    def finish(self) -> bytes:
        """End of stream; raise ValueError if the stream was malformed."""
        ...


class _RawPcm:
    """Passes 24 kHz PCM16 through, holding back an odd trailing byte for the next chunk."""

    def __init__(self) -> None:
        self._converter = PcmConverter(PCM_RATE)

    def feed(self, data: bytes) -> bytes:
        """Return whole samples of ``data``, keeping an odd byte back."""
        return self._converter.convert(data)

    def finish(self) -> bytes:
        """Nothing is buffered worth keeping: a lone trailing byte is dropped."""
        return b""


class OpenAISpeechTTS(TTSProvider):
    """Speech from an OpenAI-compatible ``POST /audio/speech``, streamed when the format allows."""

    name = "openai"
    label = "speech endpoint"
    # OpenAI's voices (and most compatible servers') read any language they are given.
    speaks_any_language = True

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str = "tts-1",
        voice: str = "alloy",
        response_format: str = "pcm",
        connect_timeout: float = 5,
        read_timeout: float = 30,
        speed: float = 1.0,
    ) -> None:
        if response_format not in STREAMED_FORMATS | DECODED_FORMATS:
            known = ", ".join(sorted(STREAMED_FORMATS | DECODED_FORMATS))
            raise ValueError(f"unsupported response_format {response_format!r}; use one of {known}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.voice = voice
        self.speed = float(speed)
        self.response_format = response_format
        self._read_timeout = read_timeout
        self._secrets = [api_key] if api_key else []
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Long-lived clients: segments follow each other quickly and reuse their connections.
        # Sessions × look-ahead requests run at once (httpx's default 100 is too few), in
        # pools of 64 whose bookkeeping stays cheap (server/upstream_pool.py).
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._pools = PoolShards(
            lambda limits, tls: httpx.AsyncClient(
                headers=headers, timeout=timeout, limits=limits, verify=tls
            ),
            2000,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The endpoint in ``settings.tts.openai``, with the chosen voice (default alloy)."""
        own = settings.tts.openai
        return cls(
            base_url=own.base_url,
            api_key=tts_key(settings),
            model=own.model,
            voice=settings.tts.voice or "alloy",
            response_format=own.format,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            speed=settings.tts.speed,
        )

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> AsyncGenerator[bytes, None]:
        """Yield PCM16 mono 24 kHz chunks for ``text`` from the speech endpoint."""
        if not text.strip():
            return
        payload: dict[str, Any] = {
            "model": self.model,
            "input": text,
            "voice": voice or self.voice,
            "response_format": self.response_format,
        }
        pace = self.pace(speed)
        if pace != 1.0:  # left out at normal speed: not every compatible endpoint knows it
            payload["speed"] = round(pace, 3)
        received = 0
        try:
            # One sentence's speech: bounded in bytes and in time, however the endpoint paces it.
            async with (
                asyncio.timeout(SPEECH_DEADLINE_S),
                self._pools.stream(
                    "POST", f"{self.base_url}/audio/speech", json=payload
                ) as response,
            ):
                await self._raise_for_status(response)
                if self.response_format in STREAMED_FORMATS:
                    decoder = _RawPcm() if self.response_format == "pcm" else WavStreamDecoder()
                    async for data in response.aiter_bytes():
                        received += len(data)
                        if received > SPEECH_MAX_BYTES:
                            raise TTSError(_too_long(self.base_url))
                        if pcm := self._feed(decoder, data):
                            yield pcm
                    self._finish(decoder)
                    return
                encoded = await read_body(response, SPEECH_MAX_BYTES)
        except ReadRefused:
            raise TTSError(_too_long(self.base_url)) from None
        except TimeoutError:
            raise TTSError(
                f"speech endpoint at {_display_url(self.base_url)} took more than "
                f"{SPEECH_DEADLINE_S:g} s for one sentence"
            ) from None
        except httpx.RequestError as exc:
            raise self._request_error(exc) from None
        pcm = await self._decode(encoded)
        for start in range(0, len(pcm), _PIECE):
            yield pcm[start : start + _PIECE]

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._pools.aclose()

    def _feed(self, decoder: _Decoder, data: bytes) -> bytes:
        try:
            return decoder.feed(data)
        except ValueError as exc:
            raise self._malformed(exc) from None

    def _finish(self, decoder: _Decoder) -> None:
        try:
            decoder.finish()
        except ValueError as exc:
            raise self._malformed(exc) from None

    def _malformed(self, exc: ValueError) -> TTSError:
        return TTSError(f"speech endpoint sent malformed {self.response_format} audio: {exc}")

    async def _decode(self, encoded: bytes) -> bytes:
        try:
            # ffmpeg runs in a worker thread so the event loop keeps serving other sessions.
            return await asyncio.to_thread(decode_to_pcm24k, encoded, self.response_format)
        except ValueError as exc:
            raise TTSError(f"speech endpoint sent undecodable audio: {exc}") from None

    async def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        body = b""
        async for data in response.aiter_bytes():
            body += data
            if len(body) >= _ERROR_BODY_LIMIT:
                break
        detail = self._scrub(_error_detail(body) or response.reason_phrase or "no details")
        status = response.status_code
        raise TTSError(f"speech endpoint answered {status}: {detail}{_HINTS.get(status, '')}")

    def _request_error(self, exc: httpx.RequestError) -> TTSError:
        where = _display_url(self.base_url)
        reason = self._scrub(str(exc) or type(exc).__name__)
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return TTSUnavailable(
                f"cannot reach the speech endpoint at {where} ({reason}); "
                "start it, fix --tts-base-url, or choose --tts espeak/none"
            )
        if isinstance(exc, httpx.TimeoutException):
            return TTSError(f"speech endpoint at {where} sent nothing for {self._read_timeout:g} s")
        return TTSError(f"speech stream from {where} broke off ({reason})")

    def _scrub(self, text: str) -> str:
        # Beyond our own key, anything key-shaped an upstream or proxy echoes is hidden too.
        return _KEYLIKE.sub(r"\1***", redact(text, *self._secrets, mask="***"))


def _too_long(base_url: str) -> str:
    return (
        f"speech endpoint at {_display_url(base_url)} sent more than "
        f"{SPEECH_MAX_BYTES >> 20} MB for one sentence; the rest was not read"
    )


def _error_detail(body: bytes) -> str:
    """Pull a readable message out of an OpenAI or FastAPI style error body."""
    raw = body.decode("utf-8", "replace")
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        parsed = raw
    for key in ("error", "detail", "message"):
        while isinstance(parsed, dict) and key in parsed:
            parsed = parsed[key]
    if isinstance(parsed, dict):
        parsed = parsed.get("message", parsed)
    text = parsed if isinstance(parsed, str) else json.dumps(parsed, ensure_ascii=False)
    text = " ".join(text.split())
    return text[:300] + ("…" if len(text) > 300 else "")


def _display_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "the configured URL"
    return str(parsed.copy_with(username=None, password=None))
