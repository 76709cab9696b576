"""A Chat Completions request body, checked the way OpenAI checks it.

Only what the answer depends on is read: the history (tool calls and results
included), streaming, usage, the answer's length cap and the audio output. Sampling
and tool options (temperature, tools …) are forwarded to the upstream
(``chat_options``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from server import protocol as p
from server.http.chat_audio import audio_marker
from server.http.chat_options import assistant_tool_calls, request_options, tool_message
from server.http.errors import BadRequest
from server.llm import Message
from server.session.session_config import MAX_OUTPUT_TOKENS, SPEED_RANGE

AudioFormat = Literal["pcm16", "wav", "mp3", "opus"]
AUDIO_FORMATS: tuple[AudioFormat, ...] = ("pcm16", "wav", "mp3", "opus")
# Streamed audio must be decodable chunk by chunk; OpenAI itself streams only pcm16.
STREAMABLE: frozenset[str] = frozenset({"pcm16", "wav"})
# Developer messages are system messages to any upstream that predates the name.
_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
MAX_BODY_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What a Chat Completions request asks for."""

    model: str
    messages: list[Message]
    stream: bool = False
    include_usage: bool = False
    audio: bool = False
    voice: str | None = None
    audio_format: AudioFormat = "pcm16"
    max_tokens: int | None = None
    """``max_completion_tokens`` (or the older ``max_tokens``); None: the server's default."""
    options: dict[str, Any] = field(default_factory=dict)
    """Fields forwarded to the upstream as they are (tools, temperature …)."""
    speed: float | None = None
    """``audio.speed`` (extension, 0.25–1.5, as Realtime's ``audio.output.speed``)."""

    @property
    def has_system(self) -> bool:
        """Whether the client sent its own system prompt."""
        return any(m["role"] == "system" for m in self.messages)


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Decode and check a request body (BadRequest names the offending field)."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest(
            "We could not parse the JSON body of your request. Send a JSON object.",
            code="invalid_json",
        ) from exc
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", code="missing_required_parameter",
                         param="model")
    stream = _flag(body, "stream")
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict) or not stream):
        raise BadRequest("stream_options is only allowed when stream is true, as an object.",
                         code="invalid_value", param="stream_options")
    audio, voice, fmt = _audio(body, stream)
    speed = _speed(body) if audio else None
    return ChatRequest(
        model=model,
        messages=_messages(body.get("messages")),
        stream=stream,
        include_usage=bool(options and _flag(options, "include_usage")),
        audio=audio,
        voice=voice,
        audio_format=fmt,
        max_tokens=_cap(body),
        options=request_options(body),
        speed=speed,
    )


def _speed(body: dict[str, Any]) -> float | None:
    """The extension ``audio.speed``: the speaking rate the talkterm app's settings chose."""
    speed = body["audio"].get("speed")
    if speed is None:
        return None
    low, high = SPEED_RANGE
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not low <= speed <= high:
        raise BadRequest(f"audio.speed must be a number from {low} to {high} (1.0 is normal).",
                         code="invalid_value", param="audio.speed")
    return float(speed)


def _cap(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BadRequest(f"{name} must be a positive integer.", code="invalid_value",
                             param=name)
        if value > MAX_OUTPUT_TOKENS:  # the WebSocket's cap (session.update)
            raise BadRequest(f"{name} is too large: at most {MAX_OUTPUT_TOKENS}.",
                             code="invalid_value", param=name)
        return int(value)
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be a boolean.", code="invalid_type", param=name)
    return value


def _messages(raw: object) -> list[Message]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages must be a non-empty array.", code="invalid_value",
                         param="messages")
    out = []
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise BadRequest(f"{where} must be an object.", code="invalid_type", param=where)
        role = _ROLES.get(str(message.get("role")))
        if role is None:
            raise BadRequest(
                f"{where}.role must be system, developer, user, assistant or tool.",
                code="invalid_value", param=f"{where}.role",
            )
        content = p.utf8_safe(_content(message, where))
        if role == "tool":
            out.append(tool_message(message, where, content))
            continue
        calls = assistant_tool_calls(message, where) if role == "assistant" else None
        if calls:
            out.append({"role": role, "content": content or None, "tool_calls": calls})
        else:
            out.append({"role": role, "content": content})
    return out


def _content(message: dict[str, Any], where: str) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if content is None and message.get("role") == "assistant" and message.get("tool_calls"):
        return ""
    if content is None and message.get("role") == "assistant":
        audio = message.get("audio")  # an earlier spoken answer, referred to by id: text lost
        if audio is not None and not isinstance(audio, dict):
            raise BadRequest(f"{where}.audio must be an object.", code="invalid_type",
                             param=f"{where}.audio")
        return "" if audio is None else str(audio.get("transcript", ""))
    if not isinstance(content, list):
        raise BadRequest(f"{where}.content must be a string or an array of text parts.",
                         code="invalid_type", param=f"{where}.content")
    texts = []
    for index, part in enumerate(content):
        if isinstance(part, dict) and part.get("type") == "input_audio":
            texts.append(audio_marker(part, f"{where}.content[{index}]"))  # heard later
            continue
        if not isinstance(part, dict) or part.get("type") != "text":
            raise BadRequest("Only text and input_audio content parts are supported.",
                             code="invalid_value", param=f"{where}.content[{index}].type")
        text = part.get("text")
        if not isinstance(text, str):
            raise BadRequest("Content text must be a string.", code="invalid_type",
                             param=f"{where}.content[{index}].text")
        texts.append(text)
    return "\n".join(texts)


def _audio(body: dict[str, Any], stream: bool) -> tuple[bool, str | None, AudioFormat]:
    modalities = body.get("modalities")
    if modalities is None or modalities == ["text"]:
        return False, None, "pcm16"
    if (
        not isinstance(modalities, list)
        or not all(isinstance(m, str) for m in modalities)
        or set(modalities) != {"text", "audio"}
    ):
        raise BadRequest('modalities must be ["text"] or ["text", "audio"].',
                         code="invalid_value", param="modalities")
    audio = body.get("audio")
    if not isinstance(audio, dict):
        raise BadRequest('The audio parameter is required when modalities includes "audio".',
                         code="missing_required_parameter", param="audio")
    voice, fmt = audio.get("voice"), audio.get("format")
    if not isinstance(voice, str) or not voice:
        raise BadRequest("audio.voice must be a voice name.", code="invalid_value",
                         param="audio.voice")
    if fmt not in AUDIO_FORMATS:
        raise BadRequest(f"audio.format must be one of {', '.join(AUDIO_FORMATS)}.",
                         code="invalid_value", param="audio.format")
    if stream and fmt not in STREAMABLE:
        raise BadRequest(
            f"audio.format {fmt} cannot be streamed; use pcm16 or wav with stream: true, "
            "or stream: false for a whole file.", code="unsupported_value", param="audio.format",
        )
    return True, voice, fmt
