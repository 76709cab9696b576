"""``input_audio`` content parts of Chat Completions: checked when the body is read,
transcribed before the answer starts, so the LLM is asked with the words.

The parser leaves a marker holding the part's format and data where its words go
(``audio_marker``); ``hear_spoken`` swaps each marker for what the recognizer heard.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import re
from typing import TYPE_CHECKING, Any, Final

from server.errors import TalktermError
from server.http.errors import BadRequest, Busy, UpstreamFailed
from server.listen import STTProvider
from server.session.turns import NoSpeech, heard_words, to_listen_rate
from server.speech.audio_format import decode_to_pcm24k

if TYPE_CHECKING:
    from server.http.chat_request import ChatRequest

FORMATS: Final = ("wav", "mp3")
_MARKER = re.compile(r"\x00input_audio:(wav|mp3):([A-Za-z0-9+/=]*)\x00")


def audio_marker(part: dict[str, Any], where: str) -> str:
    """The placeholder for one ``input_audio`` part (BadRequest names what is wrong)."""
    audio = part.get("input_audio")
    if not isinstance(audio, dict):
        raise BadRequest(
            f"{where}.input_audio must be an object with data and format.",
            code="invalid_type",
            param=f"{where}.input_audio",
        )
    fmt, data = audio.get("format"), audio.get("data")
    if fmt not in FORMATS:
        raise BadRequest(
            f"{where}.input_audio.format must be wav or mp3.",
            code="invalid_value",
            param=f"{where}.input_audio.format",
        )
    if not isinstance(data, str) or not data:
        raise BadRequest(
            f"{where}.input_audio.data must be base64-encoded audio.",
            code="invalid_value",
            param=f"{where}.input_audio.data",
        )
    return f"\x00input_audio:{fmt}:{data}\x00"


async def hear_spoken(
    request: ChatRequest,
    engine: STTProvider | None,
    problem: str | None,
    language: str | None = None,
) -> ChatRequest:
    """``request`` with every spoken part replaced by its words."""
    if not any(_MARKER.search(_text(m)) for m in request.messages):
        return request
    if engine is None:
        raise Busy(problem or "Voice input is off on this server.", code="stt_unavailable")
    messages = []
    for message in request.messages:
        content = _text(message)
        for match in list(_MARKER.finditer(content)):
            words = await _words(engine, match.group(1), match.group(2), language)
            content = content.replace(match.group(0), words, 1)
        spoken = isinstance(message.get("content"), str)
        messages.append(message | {"content": content} if spoken else message)
    return dataclasses.replace(request, messages=messages)


def _text(message: dict[str, Any]) -> str:
    """A message's text ("" for an assistant's tool calls, whose content is None)."""
    content = message.get("content")
    return content if isinstance(content, str) else ""


async def _words(engine: STTProvider, fmt: str, data: str, language: str | None) -> str:
    try:
        raw = base64.b64decode(data, validate=True)
        pcm = await asyncio.to_thread(decode_to_pcm24k, raw, fmt)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(
            f"The input_audio part could not be read as {fmt} audio ({exc}).",
            code="invalid_value",
            param="messages",
        ) from None
    samples = to_listen_rate(pcm, 24_000)
    try:
        pieces = [p async for p in heard_words(engine, samples, language=language, prompt=None)]
    except NoSpeech as exc:
        raise BadRequest(exc.message, code=exc.code, param="messages") from None
    except TalktermError as exc:
        raise UpstreamFailed(exc) from None
    return "".join(pieces).strip()
