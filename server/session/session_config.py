"""What a client may set with ``session.update``, validated field by field."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from server import protocol as p

_DEFAULT_FORMAT = {"type": "audio/pcm", "rate": p.PCM_RATE}


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """The settings of one session; replaced whole on every update."""

    instructions: str = ""
    modality: str = "audio"
    voice: str | None = None
    audio_format: dict[str, Any] = field(default_factory=lambda: dict(_DEFAULT_FORMAT))
    binary_audio: bool = False

    def as_realtime(self, session_id: str) -> dict[str, Any]:
        """The session object as the Realtime API shapes it."""
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": "talkterm",
            "instructions": self.instructions,
            "output_modalities": [self.modality],
            "audio": {"output": {"format": self.audio_format, "voice": self.voice}},
        }


def apply_update(config: SessionConfig, event: dict[str, Any]) -> SessionConfig:
    """Return config changed by a ``session.update``; reject it whole if any field is wrong."""
    session = event.get("session")
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None

    def bad(param: str, message: str) -> p.ProtocolError:
        return p.ProtocolError("invalid_value", message, param=param, event_id=event_id)

    if not isinstance(session, dict):
        raise bad("session", "Field 'session' must be an object.")
    if session.get("type", "realtime") != "realtime":
        raise bad("session.type", "Only 'realtime' sessions are supported.")
    changes: dict[str, Any] = {}
    if "instructions" in session:
        if not isinstance(session["instructions"], str):
            raise bad("session.instructions", "instructions must be a string.")
        changes["instructions"] = session["instructions"]
    if "output_modalities" in session:
        modalities = session["output_modalities"]
        if modalities not in (["text"], ["audio"]):
            raise bad(
                "session.output_modalities", 'output_modalities must be ["text"] or ["audio"].'
            )
        changes["modality"] = modalities[0]
    changes |= _audio_changes(session.get("audio"), bad)
    changes |= _extension_changes(session.get("talkterm"), bad)
    return replace(config, **changes)


def _audio_changes(audio: Any, bad: Any) -> dict[str, Any]:
    if audio is None:
        return {}
    if not isinstance(audio, dict):
        raise bad("session.audio", "audio must be an object.")
    output = audio.get("output")
    if output is None:
        return {}
    if not isinstance(output, dict):
        raise bad("session.audio.output", "audio.output must be an object.")
    changes: dict[str, Any] = {}
    if "voice" in output:
        if not isinstance(output["voice"], str) or not output["voice"].strip():
            raise bad("session.audio.output.voice", "voice must be a non-empty string.")
        changes["voice"] = output["voice"]
    if "format" in output:
        changes["audio_format"] = _audio_format(output["format"], bad)
    return changes


def _audio_format(fmt: Any, bad: Any) -> dict[str, Any]:
    param = "session.audio.output.format"
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if not isinstance(kind, str) or kind not in p.AUDIO_FORMATS:
        allowed = ", ".join(sorted(p.AUDIO_FORMATS))
        raise bad(param, f"format.type must be one of {allowed}.")
    if fmt["type"] == "audio/pcm":
        if fmt.get("rate", p.PCM_RATE) != p.PCM_RATE:
            raise bad(param + ".rate", "audio/pcm is only offered at 24000 Hz.")
        return {"type": "audio/pcm", "rate": p.PCM_RATE}
    return {"type": fmt["type"]}


def _extension_changes(ext: Any, bad: Any) -> dict[str, Any]:
    if ext is None:
        return {}
    if not isinstance(ext, dict):
        raise bad("session.talkterm", "talkterm must be an object.")
    if "binary_audio" in ext:
        if not isinstance(ext["binary_audio"], bool):
            raise bad("session.talkterm.binary_audio", "binary_audio must be true or false.")
        return {"binary_audio": ext["binary_audio"]}
    return {}
