"""A fake OpenAI ``POST /v1/audio/speech`` endpoint: a real HTTP/1.1 server on 127.0.0.1.

It answers with real audio made at request time: espeak-ng speaks the requested
``input`` and ffmpeg turns it into the requested ``response_format`` (pcm, wav,
mp3, opus, aac, flac), sent with chunked transfer encoding in ``chunk_size``
pieces. It records every request, can be told to fail or to stall after some
chunks, and counts clients that hang up in the middle of a response.

    async with SpeechUpstream() as upstream:
        tts = OpenAISpeechTTS(upstream.base_url, api_key="sk-test")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any

CONTENT_TYPES = {
    "pcm": "audio/pcm",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
}
_FFMPEG_INPUT = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "wav", "-i", "pipe:0"]
# ffmpeg output options per format; OpenAI's opus is Ogg Opus and its aac is ADTS.
_FFMPEG_OUTPUT = {
    "pcm": ["-acodec", "pcm_s16le", "-f", "s16le"],
    "wav": ["-acodec", "pcm_s16le", "-f", "wav"],
    "mp3": ["-acodec", "libmp3lame", "-b:a", "64k", "-f", "mp3"],
    "opus": ["-acodec", "libopus", "-b:a", "32k", "-f", "ogg"],
    "aac": ["-acodec", "aac", "-b:a", "64k", "-f", "adts"],
    "flac": ["-acodec", "flac", "-f", "flac"],
}


@dataclass(frozen=True)
class SpeechRequest:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None


class SpeechUpstream:
    """The fake speech server; use it as an async context manager."""

    def __init__(self, *, chunk_size: int = 1001, chunk_delay: float = 0.0, rate: int = 24000):
        # An odd chunk size makes PCM samples straddle chunks, as real servers do.
        self.chunk_size = chunk_size
        self.chunk_delay = chunk_delay
        # Sample rate of wav/mp3/opus/aac/flac answers; pcm is always 24 kHz, as OpenAI's is.
        self.rate = rate
        self.stall_after: int | None = None
        self.requests: list[SpeechRequest] = []
        self.connections = 0  # TCP connections accepted
        self.disconnects = 0
        self.disconnected = asyncio.Event()
        self._failure: tuple[int, bytes] | None = None
        self._cache: dict[tuple[str, str, int], bytes] = {}
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL to give a client."""
        assert self._server is not None, "start the fake first"
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aenter__(self) -> SpeechUpstream:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        # Hanging up (rather than cancelling the handlers) lets each handler end normally.
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    def fail(self, status: int, body: str | dict[str, Any] | None = None) -> None:
        """Answer every following request with ``status`` and ``body`` (JSON if a dict)."""
        if body is None:
            body = {"error": {"message": f"fake failure {status}", "type": "fake"}}
        raw = json.dumps(body) if isinstance(body, dict) else body
        self._failure = (status, raw.encode())

    def recover(self) -> None:
        """Stop failing."""
        self._failure = None

    async def render(self, text: str, fmt: str) -> bytes:
        """The exact bytes the fake sends for ``text`` in ``fmt``."""
        rate = 24000 if fmt == "pcm" else self.rate
        key = (text, fmt, rate)
        if key not in self._cache:
            wav = await _run(["espeak-ng", "--stdout", "-v", "en-us"], text.encode())
            self._cache[key] = await _run(
                [*_FFMPEG_INPUT, "-ac", "1", "-ar", str(rate), *_FFMPEG_OUTPUT[fmt], "pipe:1"],
                wav,
            )
        return self._cache[key]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            while await self._serve_one(reader, writer):
                pass
        except ConnectionError:
            self._record_disconnect()
        finally:
            self._writers.discard(writer)
            self._handlers.discard(task)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the client has gone."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return False
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, path, _version = request_line.split(" ", 2)
        headers = {}
        for line in lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        self.requests.append(SpeechRequest(method, path, headers, payload))
        if self._failure is not None:
            await _send_plain(writer, *self._failure)
        elif method != "POST" or not path.endswith("/audio/speech"):
            await _send_plain(writer, 404, b'{"error": {"message": "no such route"}}')
        elif not isinstance(payload, dict) or payload.get("response_format", "mp3") not in (
            _FFMPEG_OUTPUT
        ):
            await _send_plain(writer, 400, b'{"error": {"message": "bad request"}}')
        else:
            return await self._send_audio(reader, writer, payload)
        return True

    async def _send_audio(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: dict[str, Any]
    ) -> bool:
        fmt = payload.get("response_format", "mp3")  # OpenAI's default
        audio = await self.render(str(payload.get("input", "")), fmt)
        writer.write(
            b"HTTP/1.1 200 OK\r\n"
            + f"Content-Type: {CONTENT_TYPES[fmt]}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for index, start in enumerate(range(0, len(audio), self.chunk_size)):
            if self.stall_after is not None and index >= self.stall_after:
                await reader.read()  # returns only when the client hangs up
                self._record_disconnect()
                return False
            piece = audio[start : start + self.chunk_size]
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    def _record_disconnect(self) -> None:
        self.disconnects += 1
        self.disconnected.set()


async def _send_plain(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    writer.write(
        f"HTTP/1.1 {status} Fake\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()


async def _run(argv: list[str], stdin: bytes) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate(stdin)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {err.decode(errors='replace')}")
    return out
