"""``POST /v1/audio/transcriptions``: OpenAI's speech-to-text endpoint on the same port.

OpenAI's multipart shape: ``file`` (wav, mp3, ogg, webm, flac…), ``model`` (any name
means the server's recognizer), ``language``, ``prompt``, ``response_format`` (json,
text, verbose_json) and ``stream`` (SSE ``transcript.text.delta`` then
``transcript.text.done``). The body is parsed by the standard library's MIME parser
(python-multipart is not a dependency); it is bounded by ``stt.max_upload_bytes``.
A recording with no speech in it gives empty text, never words Whisper made up.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Final

from server.errors import TalktermError
from server.http.auth import Authoriser
from server.http.chat_completions import SSE_HEADERS, send_error, send_json
from server.http.errors import BadRequest, Busy, HTTPError, UpstreamFailed
from server.listen import LISTEN_RATE
from server.listen.languages import language_problem
from server.session.session import Services
from server.session.turns import NoSpeech, heard_words, to_listen_rate
from server.speech.audio_format import decode_to_pcm24k

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

FORMATS: Final = ("json", "text", "verbose_json")
# Magic numbers of the containers ffmpeg decodes for us, by pydub's format name.
_MAGIC: Final = (
    (b"RIFF", "wav"),
    (b"OggS", "ogg"),
    (b"fLaC", "flac"),
    (b"\x1a\x45\xdf\xa3", "webm"),
    (b"ID3", "mp3"),
    (b"\xff\xfb", "mp3"),
    (b"\xff\xf3", "mp3"),
    (b"\xff\xf2", "mp3"),
)


@dataclass(frozen=True, slots=True)
class Upload:
    """What a transcription request asks for."""

    audio: bytes
    language: str | None
    prompt: str | None
    response_format: str
    stream: bool


class Transcriptions:
    """The endpoint: authorise, read the form, decode, transcribe, answer."""

    def __init__(self, services: Callable[[], Services], authorise: Authoriser) -> None:
        self._services = services
        self._authorise = authorise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        services = self._services()
        try:
            self._authorise.check(scope)
            if services.stt is None:
                raise Busy(services.stt_problem or "Voice input is off.", code="stt_unavailable")
            limit = services.max_upload_bytes
            # The form's other fields are small: a few KiB over the file's cap is plenty.
            upload = read_form(_content_type(scope), await _body(receive, limit + (16 << 10)))
            if len(upload.audio) > limit:
                raise _too_large(limit)
            samples = await _samples(upload.audio)
        except HTTPError as exc:
            await send_error(send, exc)
            return
        words = _words(services, upload, samples)
        seconds = round(samples.size / LISTEN_RATE, 3)
        if upload.stream:
            await _stream(send, words, seconds)
        else:
            await _whole(send, words, upload, seconds)


async def _words(services: Services, upload: Upload, samples: Any) -> AsyncGenerator[str]:
    assert services.stt is not None
    language = upload.language or services.stt_language
    try:
        async for piece in heard_words(
            services.stt, samples, language=language, prompt=upload.prompt
        ):
            yield piece
    except NoSpeech:
        return  # nothing was said: empty text, as a recognizer that heard silence answers


async def _whole(send: Send, words: AsyncIterator[str], upload: Upload, seconds: float) -> None:
    try:
        text = "".join([piece async for piece in words]).strip()
    except TalktermError as exc:
        await send_error(send, UpstreamFailed(exc))
        return
    usage = {"type": "duration", "seconds": seconds}
    if upload.response_format == "text":
        head = [(b"content-type", b"text/plain; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": text.encode() + b"\n"})
        return
    body: dict[str, Any] = {"text": text, "usage": usage}
    if upload.response_format == "verbose_json":
        language = upload.language or "english"
        body = {"task": "transcribe", "language": language, "duration": seconds, "text": text}
        body["segments"] = []
    await send_json(send, 200, body)


async def _stream(send: Send, words: AsyncGenerator[str], seconds: float) -> None:
    async with aclosing(words) as pieces:
        try:
            first = await anext(pieces, None)
        except TalktermError as exc:
            await send_error(send, UpstreamFailed(exc))
            return
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        text = ""
        try:
            if first is not None:
                text = first.lstrip()
                await _event(send, {"type": "transcript.text.delta", "delta": text})
            async for piece in pieces:
                text += piece
                await _event(send, {"type": "transcript.text.delta", "delta": piece})
        except TalktermError as exc:
            await _event(send, UpstreamFailed(exc).body())
        else:
            usage = {"type": "duration", "seconds": seconds}
            await _event(
                send, {"type": "transcript.text.done", "text": text.strip(), "usage": usage}
            )
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _event(send: Send, body: dict[str, Any]) -> None:
    data = b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _samples(audio: bytes) -> Any:
    fmt = sniff(audio)
    try:
        pcm = await asyncio.to_thread(decode_to_pcm24k, audio, fmt)
    except ValueError as exc:
        raise BadRequest(
            f"The file could not be decoded as audio ({exc}). Send wav, mp3, ogg, webm or flac.",
            code="invalid_value",
            param="file",
        ) from None
    return to_listen_rate(pcm, 24_000)


def sniff(audio: bytes) -> str:
    """The container of an uploaded file, by its first bytes (BadRequest if none fits)."""
    for magic, fmt in _MAGIC:
        if audio.startswith(magic):
            return fmt
    raise BadRequest(
        "The file is not audio this server can read: send wav, mp3, ogg, webm or flac.",
        code="invalid_value",
        param="file",
    )


def read_form(content_type: str, body: bytes) -> Upload:
    """The multipart form's fields, checked as OpenAI checks them."""
    if not content_type.startswith("multipart/form-data"):
        raise BadRequest(
            "Send the audio as multipart/form-data with a 'file' field.",
            code="invalid_value",
            param="file",
        )
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, bytes] = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload
    if not fields.get("file"):
        raise BadRequest(
            "Missing required parameter: 'file'.", code="missing_required_parameter", param="file"
        )
    fmt = _text(fields, "response_format") or "json"
    if fmt not in FORMATS:
        raise BadRequest(
            f"response_format {fmt!r} is not supported here; use json, text or verbose_json.",
            code="unsupported_value",
            param="response_format",
        )
    stream = (_text(fields, "stream") or "false").lower() == "true"
    language = _text(fields, "language")
    if language is not None and (problem := language_problem(language)) is not None:
        raise BadRequest(f"language: {problem}", code="invalid_value", param="language")
    return Upload(fields["file"], language, _text(fields, "prompt"), fmt, stream)


def _text(fields: dict[str, bytes], name: str) -> str | None:
    value = fields.get(name)
    return value.decode("utf-8", "replace").strip() or None if value is not None else None


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return str(value.decode("latin-1"))
    return ""


async def _body(receive: Receive, limit: int) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client closed the request before its body arrived.")
        body += message.get("body", b"")
        if len(body) > limit:
            raise _too_large(limit)
        if not message.get("more_body", False):
            return bytes(body)


def _too_large(limit: int) -> BadRequest:
    return BadRequest(
        f"The file is larger than this server accepts ({limit / (1 << 20):g} MiB).",
        code="file_too_large",
        param="file",
    )
