"""What a client may set with ``session.update``, validated field by field.

The model name is checked against the upstream's list by the session, which knows it;
everything else is checked here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final, TypeAlias

from server import protocol as p
from server.session.input_config import InputConfig, input_changes

BadValue: TypeAlias = Callable[[str, str], p.ProtocolError]
"""Builds the error for one wrong field from its path (``param``) and a plain-words message."""

_DEFAULT_FORMAT = {"type": "audio/pcm", "rate": p.PCM_RATE}
# The Realtime API's own upper bound for max_output_tokens.
MAX_OUTPUT_TOKENS: Final = 4096 * 32
UNLIMITED: Final = "inf"
SPEED_RANGE: Final = (0.25, 1.5)
# The model name Realtime clients connect with; it stands for the server's default.
DEFAULT_MODEL_ALIAS: Final = "talkterm"
# Language codes as the segment event names them (ISO 639, maybe with a subtag: en-gb).
_LANGUAGE: Final = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8}){0,3}")
_MAX_LANGUAGES: Final = 64


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """The settings of one session; replaced whole on every update."""

    instructions: str = ""
    modality: str = "audio"
    voice: str | None = None
    audio_format: dict[str, Any] = field(default_factory=lambda: dict(_DEFAULT_FORMAT))
    binary_audio: bool = False
    model: str = DEFAULT_MODEL_ALIAS
    max_output_tokens: int | None = None
    """None: no cap ("inf")."""
    speed: float = 1.0
    listening: InputConfig = field(default_factory=InputConfig)
    """The input side: format, transcription, turn detection (server.session.input_config)."""
    language_voices: dict[str, str] = field(default_factory=dict)
    """The session's own voice per language (``session.talkterm.language_voices``)."""

    def as_realtime(self, session_id: str) -> dict[str, Any]:
        """The session object as the Realtime API shapes it."""
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": self.model,
            "instructions": self.instructions,
            "output_modalities": [self.modality],
            "max_output_tokens": wire_cap(self.max_output_tokens),
            "audio": {
                "input": self.listening.as_realtime(),
                "output": {"format": self.audio_format, "voice": self.voice, "speed": self.speed},
            },
        }


def wire_cap(cap: int | None) -> int | str:
    """A cap as the Realtime API writes it: a number, or "inf"."""
    return UNLIMITED if cap is None else cap


def parse_cap(value: Any, param: str, bad: BadValue) -> int | None:
    """A ``max_output_tokens`` value: a whole number in range, or "inf" (None)."""
    if value == UNLIMITED:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_OUTPUT_TOKENS:
        return value
    raise bad(
        param,
        f"max_output_tokens must be a whole number from 1 to {MAX_OUTPUT_TOKENS}, or "
        f'"{UNLIMITED}"; got {_shown(value)}.',
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


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
    if "max_output_tokens" in session:
        changes["max_output_tokens"] = parse_cap(
            session["max_output_tokens"], "session.max_output_tokens", bad
        )
    if "model" in session:
        model = session["model"]
        if not isinstance(model, str) or not model.strip():
            raise bad("session.model", "model must be a non-empty string.")
        changes["model"] = model.strip()
    changes |= _audio_changes(session.get("audio"), bad)
    audio = session.get("audio")
    if isinstance(audio, dict) and "input" in audio:
        changes["listening"] = input_changes(config.listening, audio["input"], bad)
    changes |= _extension_changes(session.get("talkterm"), bad)
    if "language_voices" in changes:
        merged = {**config.language_voices, **changes["language_voices"]}
        changes["language_voices"] = {k: v for k, v in merged.items() if v is not None}
    return replace(config, **changes)


def _audio_changes(audio: Any, bad: BadValue) -> dict[str, Any]:
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
    if "speed" in output:
        changes["speed"] = _speed(output["speed"], bad)
    return changes


def _speed(speed: Any, bad: BadValue) -> float:
    low, high = SPEED_RANGE
    number = isinstance(speed, int | float) and not isinstance(speed, bool)
    if not number or not low <= speed <= high:
        raise bad(
            "session.audio.output.speed",
            f"speed must be a number from {low} to {high} (1.0 is normal); got {_shown(speed)}.",
        )
    return float(speed)


def _audio_format(fmt: Any, bad: BadValue) -> dict[str, Any]:
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


def _extension_changes(ext: Any, bad: BadValue) -> dict[str, Any]:
    if ext is None:
        return {}
    if not isinstance(ext, dict):
        raise bad("session.talkterm", "talkterm must be an object.")
    changes: dict[str, Any] = {}
    if "binary_audio" in ext:
        if not isinstance(ext["binary_audio"], bool):
            raise bad("session.talkterm.binary_audio", "binary_audio must be true or false.")
        changes["binary_audio"] = ext["binary_audio"]
    if "language_voices" in ext:
        changes["language_voices"] = _language_voices(ext["language_voices"], bad)
    return changes


def _language_voices(value: Any, bad: BadValue) -> dict[str, str | None]:
    """``{"cmn": "cmn", "ru": null}``: a voice per language code; null goes back to automatic."""
    param = "session.talkterm.language_voices"
    if not isinstance(value, dict) or len(value) > _MAX_LANGUAGES:
        raise bad(param, f"language_voices must be an object of at most {_MAX_LANGUAGES} entries.")
    for language, voice in value.items():
        if not _LANGUAGE.fullmatch(language):
            raise bad(param, f"{_shown(language)} is not a language code such as cmn, ja or ru.")
        if voice is not None and (not isinstance(voice, str) or not voice.strip()):
            raise bad(f"{param}.{language}", "A voice must be a non-empty string, or null.")
    return value
