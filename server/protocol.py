"""The talkterm wire protocol, shared by the server and the terminal app.

Events follow the OpenAI Realtime API (GA) names and shapes wherever the two
overlap; our extensions are documented beside them in docs/protocol.md. This
module is pure: no I/O, and of the rest of the server it imports only the
dependency-free ``server.errors``, so the terminal app can depend on it alone.

Binary audio frame (only for a client that asked for it in ``session.update``
with ``session.talkterm.binary_audio = true``)::

    offset  size  field
    0       4     magic b"TTA1"
    4       4     header length H, unsigned big-endian
    8       H     header: UTF-8 JSON object, the ``response.output_audio.delta``
                  event without its ``delta`` field
    8+H     ...   audio bytes in the session's output format
"""

from __future__ import annotations

import json
import struct
import uuid
from dataclasses import dataclass
from typing import Any, Final, Literal

# Re-exported: both halves catch ``protocol.ProtocolError``.
from server.errors import ProtocolError as ProtocolError

# Client → server, shared with the OpenAI Realtime API.
SESSION_UPDATE: Final = "session.update"
ITEM_CREATE: Final = "conversation.item.create"
ITEM_TRUNCATE: Final = "conversation.item.truncate"
RESPONSE_CREATE: Final = "response.create"
RESPONSE_CANCEL: Final = "response.cancel"
ITEM_DELETE: Final = "conversation.item.delete"
ITEM_RETRIEVE: Final = "conversation.item.retrieve"
OUTPUT_AUDIO_CLEAR: Final = "output_audio_buffer.clear"
INPUT_APPEND: Final = "input_audio_buffer.append"
INPUT_COMMIT: Final = "input_audio_buffer.commit"
INPUT_CLEAR: Final = "input_audio_buffer.clear"
# Client → server, talkterm extensions.
RESPONSE_PAUSE: Final = "response.pause"
RESPONSE_RESUME: Final = "response.resume"

CLIENT_EVENTS: Final = frozenset(
    {
        SESSION_UPDATE,
        ITEM_CREATE,
        ITEM_TRUNCATE,
        RESPONSE_CREATE,
        RESPONSE_CANCEL,
        ITEM_DELETE,
        ITEM_RETRIEVE,
        OUTPUT_AUDIO_CLEAR,
        INPUT_APPEND,
        INPUT_COMMIT,
        INPUT_CLEAR,
        RESPONSE_PAUSE,
        RESPONSE_RESUME,
    }
)

# Server → client, shared with the OpenAI Realtime API.
SESSION_CREATED: Final = "session.created"
SESSION_UPDATED: Final = "session.updated"
ITEM_ADDED: Final = "conversation.item.added"
ITEM_DONE: Final = "conversation.item.done"
ITEM_TRUNCATED: Final = "conversation.item.truncated"
ITEM_DELETED: Final = "conversation.item.deleted"
ITEM_RETRIEVED: Final = "conversation.item.retrieved"
OUTPUT_AUDIO_CLEARED: Final = "output_audio_buffer.cleared"
RESPONSE_CREATED: Final = "response.created"
OUTPUT_ITEM_ADDED: Final = "response.output_item.added"
OUTPUT_ITEM_DONE: Final = "response.output_item.done"
CONTENT_PART_ADDED: Final = "response.content_part.added"
CONTENT_PART_DONE: Final = "response.content_part.done"
TEXT_DELTA: Final = "response.output_text.delta"
TEXT_DONE: Final = "response.output_text.done"
TRANSCRIPT_DELTA: Final = "response.output_audio_transcript.delta"
TRANSCRIPT_DONE: Final = "response.output_audio_transcript.done"
AUDIO_DELTA: Final = "response.output_audio.delta"
AUDIO_DONE: Final = "response.output_audio.done"
RESPONSE_DONE: Final = "response.done"
ERROR: Final = "error"
# The input side (voice in), shared with the OpenAI Realtime API.
SPEECH_STARTED: Final = "input_audio_buffer.speech_started"
SPEECH_STOPPED: Final = "input_audio_buffer.speech_stopped"
INPUT_COMMITTED: Final = "input_audio_buffer.committed"
INPUT_CLEARED: Final = "input_audio_buffer.cleared"
HEARD_DELTA: Final = "conversation.item.input_audio_transcription.delta"
HEARD_COMPLETED: Final = "conversation.item.input_audio_transcription.completed"
HEARD_FAILED: Final = "conversation.item.input_audio_transcription.failed"
# Server → client, talkterm extensions.
AUDIO_SEGMENT: Final = "response.output_audio.segment"
RESPONSE_PAUSED: Final = "response.paused"
RESPONSE_RESUMED: Final = "response.resumed"
SESSION_RESUMED: Final = "session.resumed"
NOTICE: Final = "talkterm.notice"
"""Something the user should know that fails nothing (early turns left out…): not an
``error``, which every Realtime client treats as a failure."""
# Sent only to a client that set ``session.talkterm.extensions`` (our app does): a plain
# OpenAI client validates every event against OpenAI's own types, and some stop at the first
# unknown one. Answers to our own requests (response.paused) need no flag.
EXTENSION_EVENTS: Final = frozenset({AUDIO_SEGMENT, NOTICE})

# A response's ``status`` (in ``response.created`` / ``response.done``), as the Realtime
# API spells it; an item's ``status`` is one of the same words.
ResponseStatus = Literal["in_progress", "completed", "cancelled", "failed", "incomplete"]
ItemStatus = Literal["in_progress", "completed", "incomplete"]
IN_PROGRESS: Final = "in_progress"
COMPLETED: Final = "completed"
CANCELLED: Final = "cancelled"
FAILED: Final = "failed"
INCOMPLETE: Final = "incomplete"

# Codes of ``error`` events that a client matches (docs/protocol.md).
ACTIVE_RESPONSE: Final = "conversation_already_has_active_response"
"""``response.create`` while the previous response is still closing (e.g. one just cancelled)."""
CANCEL_NOT_ACTIVE: Final = "response_cancel_not_active"
PAUSE_NOT_ACTIVE: Final = "response_pause_not_active"
RESUME_NOT_ACTIVE: Final = "response_resume_not_active"
RACE_CODES: Final = frozenset({CANCEL_NOT_ACTIVE, PAUSE_NOT_ACTIVE, RESUME_NOT_ACTIVE})
"""A control event that raced the end of its response: nothing failed."""

# Codes of ``talkterm.notice`` events (before: ``error`` events of type "info").
CONTEXT_TRIMMED: Final = "context_trimmed"
CONTEXT_FULL: Final = "context_full"
SEMANTIC_VAD_APPROXIMATED: Final = "semantic_vad_approximated"
INPUT_AUDIO_INTERRUPTED: Final = "input_audio_interrupted"
NO_VOICE_FOR_LANGUAGE: Final = "no_voice_for_language"
"""Part of a sentence is in a language no installed voice reads: it is shown, not spoken."""
NOTICE_CODES: Final = frozenset(
    {
        CONTEXT_TRIMMED,
        CONTEXT_FULL,
        SEMANTIC_VAD_APPROXIMATED,
        INPUT_AUDIO_INTERRUPTED,
        NO_VOICE_FOR_LANGUAGE,
    }
)

# Query parameters of the WebSocket URL with which a client resumes a session.
RESUME_SESSION_PARAM: Final = "talkterm_session"
RESUME_SEQ_PARAM: Final = "talkterm_last_seq"

AUDIO_MAGIC: Final = b"TTA1"
_LENGTH = struct.Struct(">I")

# The PCM format every provider produces and the default output format.
PCM_RATE: Final = 24_000
PCM_SAMPLE_WIDTH: Final = 2
PCM_CHANNELS: Final = 1
# Output formats a client may ask for in session.audio.output.format.type.
AUDIO_FORMATS: Final = frozenset({"audio/pcm", "audio/pcmu", "audio/pcma"})

MAX_FRAME_BYTES: Final = 1 << 20


def utf8_safe(text: str) -> str:
    """``text`` with any lone surrogate (valid in JSON, not in UTF-8) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def new_id(prefix: str) -> str:
    """Return a fresh id in OpenAI's ``prefix_xxx`` style."""
    return f"{prefix}_{uuid.uuid4().hex[:22]}"


WORKER_ID: Final = r"[a-z0-9]{1,16}"
"""A worker's id behind HAProxy (``--worker-id``): safe inside a session id and a HAProxy rule."""


def session_prefix(worker_id: str | None) -> str:
    """The start of every session id a server issues: ``sess_`` alone, or ``sess_<worker>_``
    behind HAProxy, which routes a resume by it (the one place this rule is written)."""
    return f"sess_{worker_id}_" if worker_id else "sess_"


def new_session_id(worker_id: str | None) -> str:
    """A fresh session id that names its worker (see ``session_prefix``)."""
    return new_id(session_prefix(worker_id).removesuffix("_"))


def encode(event: dict[str, Any]) -> str:
    """Serialise one event as compact JSON, adding an ``event_id`` if missing."""
    if "event_id" not in event:
        event = {"event_id": new_id("event"), **event}
    # ensure_ascii: a lone surrogate a client sent (and we echo) stays valid on the wire.
    return json.dumps(event, separators=(",", ":"))


_MAX_DIGITS = 1000


def _strict_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > _MAX_DIGITS:
        raise ValueError(f"a number with {digits} digits (at most {_MAX_DIGITS})")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_text(raw: str) -> dict[str, Any]:
    """Parse one text frame into an event object with a string ``type``."""
    try:
        event = json.loads(raw, parse_int=_strict_int, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ProtocolError("invalid_json", f"The frame is not valid JSON: {exc}.") from None
    if not isinstance(event, dict):
        shape = type(event).__name__
        raise ProtocolError("invalid_event", f"An event must be a JSON object, not a JSON {shape}.")
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    kind = event.get("type")
    if kind is None:
        raise ProtocolError(
            "missing_type", "The event has no 'type' field.", param="type", event_id=event_id
        )
    if not isinstance(kind, str):
        raise ProtocolError(
            "invalid_type",
            "The event's 'type' must be a string.",
            param="type",
            event_id=event_id,
        )
    return event


def decode_client_event(raw: str | bytes) -> dict[str, Any]:
    """Parse a client frame (text, or bytes that must be UTF-8 JSON) into an event."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                "invalid_utf8", f"The frame is not valid UTF-8 (byte {exc.start})."
            ) from None
    event = decode_text(raw)
    if event["type"] not in CLIENT_EVENTS:
        raise ProtocolError(
            "unknown_event",
            f"Unknown event type {event['type']!r}.",
            param="type",
            event_id=event.get("event_id") if isinstance(event.get("event_id"), str) else None,
        )
    return event


def is_extension(event: dict[str, Any]) -> bool:
    """Whether only a client that asked for talkterm's extensions should see ``event``."""
    return event.get("type") in EXTENSION_EVENTS


def notice_event(code: str, message: str, response_id: str | None = None) -> dict[str, Any]:
    """Build a ``talkterm.notice`` event: information for the user, no failure."""
    return {"type": NOTICE, "code": code, "message": message, "response_id": response_id}


def error_event(
    code: str,
    message: str,
    *,
    kind: str = "invalid_request_error",
    param: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Build an ``error`` event as the Realtime API shapes it."""
    return {
        "type": ERROR,
        "error": {
            "type": kind,
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id,
        },
    }


def error_for(exc: ProtocolError) -> dict[str, Any]:
    """The ``error`` event that answers a refused client event."""
    return error_event(exc.code, exc.message, param=exc.param, event_id=exc.event_id)


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """A decoded binary audio frame: the delta event's fields and its audio."""

    header: dict[str, Any]
    audio: bytes


def encode_audio_frame(header: dict[str, Any], audio: bytes) -> bytes:
    """Pack an audio delta header and its audio bytes into one binary frame."""
    head = json.dumps(header, separators=(",", ":")).encode()
    return AUDIO_MAGIC + _LENGTH.pack(len(head)) + head + audio


def decode_audio_frame(frame: bytes) -> AudioFrame:
    """Unpack a binary audio frame; raises ProtocolError if it is malformed."""
    if len(frame) < 8 or frame[:4] != AUDIO_MAGIC:
        raise ProtocolError("invalid_audio_frame", "Binary frame without the TTA1 magic.")
    (length,) = _LENGTH.unpack_from(frame, 4)
    if 8 + length > len(frame):
        raise ProtocolError("invalid_audio_frame", "Binary frame header runs past its end.")
    try:
        header = json.loads(frame[8 : 8 + length])
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProtocolError("invalid_audio_frame", "Binary frame header is not JSON.") from None
    if not isinstance(header, dict):
        raise ProtocolError("invalid_audio_frame", "Binary frame header is not an object.")
    return AudioFrame(header, frame[8 + length :])


def user_text_item(text: str, item_id: str | None = None) -> dict[str, Any]:
    """Build a ``conversation.item.create`` event for a typed user message."""
    item: dict[str, Any] = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }
    if item_id:
        item["id"] = item_id
    return {"type": ITEM_CREATE, "item": item}


def resume_query(session_id: str, last_seq: int) -> str:
    """The query string that asks the server to resume a session after ``last_seq``."""
    return f"{RESUME_SESSION_PARAM}={session_id}&{RESUME_SEQ_PARAM}={last_seq}"


def pcm_ms(byte_count: int) -> float:
    """Milliseconds of default-format PCM in ``byte_count`` bytes."""
    return byte_count * 1000 / (PCM_RATE * PCM_SAMPLE_WIDTH * PCM_CHANNELS)
