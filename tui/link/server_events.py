"""Server events → link messages: one builder per event type the app cares about."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from textual.message import Message

from server import protocol as p
from tui.languages import read_languages
from tui.link.messages import ConnectionMessages as Messages


def translate(frame: str | bytes) -> tuple[Message | None, int | None]:
    """Turn one server frame into (message or None if ignored, its seq if numbered)."""
    if isinstance(frame, bytes):
        audio = p.decode_audio_frame(frame)
        response_id = str(audio.header.get("response_id", ""))
        return Messages.AudioArrived(response_id, audio.audio), audio.header.get("seq")
    event = p.decode_text(frame)
    build = _BUILDERS.get(event["type"])
    return (build(event) if build is not None else None), event.get("seq")


def session_started(event: dict[str, Any], *, replaced: bool = False) -> Message:
    """``session.created`` as a message; ``replaced`` when it is not the session we resumed."""
    ext = _extension(event)
    listen = ext.get("listen")
    listen = listen if isinstance(listen, dict) else {}
    return Messages.SessionStarted(
        str(ext.get("llm", "?")),
        str(ext.get("tts", "?")),
        bool(ext.get("demo")),
        replaced,
        models=choices(ext.get("models")),
        voices=choices(ext.get("voices")),
        languages=read_languages(ext.get("languages")),
        listens=bool(listen.get("available")),
        deaf_because=str(listen.get("problem") or ""),
    )


def _session_updated(event: dict[str, Any]) -> Message | None:
    """Only an update that lists models, voices or languages tells the app something."""
    ext = _extension(event)
    models, voices = choices(ext.get("models")), choices(ext.get("voices"))
    languages = read_languages(ext.get("languages"))
    if models is None and voices is None and languages is None:
        return None
    return Messages.SessionUpdated(models, voices, languages)


def _extension(event: dict[str, Any]) -> dict[str, Any]:
    session = event.get("session")
    ext = session.get("talkterm") if isinstance(session, dict) else None
    return ext if isinstance(ext, dict) else {}


def _response_finished(event: dict[str, Any]) -> Message:
    response = event.get("response") or {}
    return Messages.ResponseFinished(
        str(response.get("id", "")), str(response.get("status", "")), response.get("timings") or {}
    )


def _segment(event: dict[str, Any]) -> Message:
    return Messages.SegmentAnnounced(
        event.get("response_id", ""),
        int(event.get("segment_index", 0)),
        int(event.get("char_start", 0)),
        int(event.get("char_end", 0)),
        float(event.get("audio_start_ms", 0.0)),
        str(event.get("format", "audio/pcm")),
        str(event.get("language") or ""),
    )


def _base64_audio(event: dict[str, Any]) -> Message:
    return Messages.AudioArrived(event.get("response_id", ""), base64.b64decode(event["delta"]))


def _not_heard(event: dict[str, Any]) -> Message:
    error = event.get("error") or {}
    return Messages.NotHeard(
        str(event.get("item_id", "")),
        str(error.get("code") or "transcription_failed"),
        str(error.get("message") or "The speech could not be transcribed."),
    )


def _error(event: dict[str, Any]) -> Message:
    error = event.get("error") or {}
    return Messages.ServerError(
        str(error.get("code") or "error"),
        str(error.get("message") or "The server reported an error."),
    )


def _notice(event: dict[str, Any]) -> Message:
    return Messages.NoticeArrived(str(event.get("code") or ""), str(event.get("message") or ""))


_BUILDERS: dict[str, Callable[[dict[str, Any]], Message | None]] = {
    p.SESSION_CREATED: session_started,
    p.SESSION_UPDATED: _session_updated,
    p.RESPONSE_CREATED: lambda e: Messages.ResponseStarted(str((e.get("response") or {})["id"])),
    p.OUTPUT_ITEM_ADDED: lambda e: Messages.ItemStarted(
        e.get("response_id", ""), str((e.get("item") or {}).get("id", ""))
    ),
    p.TRANSCRIPT_DELTA: lambda e: Messages.TextArrived(e.get("response_id", ""), e["delta"]),
    p.TEXT_DELTA: lambda e: Messages.TextArrived(e.get("response_id", ""), e["delta"]),
    p.AUDIO_SEGMENT: _segment,
    p.AUDIO_DELTA: _base64_audio,
    p.RESPONSE_DONE: _response_finished,
    p.RESPONSE_PAUSED: lambda e: Messages.ResponsePaused(e.get("response_id", "")),
    p.RESPONSE_RESUMED: lambda e: Messages.ResponseResumed(e.get("response_id", "")),
    p.ERROR: _error,
    "input_audio_buffer.speech_started": lambda e: Messages.SpeechStarted(str(e.get("item_id"))),
    "input_audio_buffer.speech_stopped": lambda e: Messages.SpeechStopped(str(e.get("item_id"))),
    "input_audio_buffer.committed": lambda e: Messages.InputCommitted(str(e["item_id"])),
    "input_audio_buffer.cleared": lambda e: Messages.InputCleared(),
    "conversation.item.input_audio_transcription.completed": lambda e: Messages.Heard(
        str(e["item_id"]), str(e.get("transcript") or "")
    ),
    "conversation.item.input_audio_transcription.failed": _not_heard,
    p.NOTICE: _notice,
}


def choices(listed: Any) -> list[str] | None:
    """Names from a server's list: plain strings, or objects with an ``id`` or ``name``."""
    if not isinstance(listed, list):
        return None
    names = []
    for entry in listed:
        name = entry.get("id") or entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str) and name:
            names.append(name)
    return names
