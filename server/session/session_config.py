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
from server.session.tools import parse_tool_choice, parse_tools

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
    extensions: bool = False
    """The client takes talkterm's extension events (p.is_extension); our app does."""
    asked_model: str | None = None
    """An OpenAI model name the client asked for, answered by ``model`` instead."""
    tools: tuple[dict[str, Any], ...] = ()
    """The client's function tools (Realtime shape), passed to the upstream."""
    tool_choice: str | dict[str, Any] = "auto"
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
            "tools": list(self.tools),
            "tool_choice": self.tool_choice,
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


def apply_update(
    config: SessionConfig, event: dict[str, Any]
) -> tuple[SessionConfig, list[p.ProtocolError]]:
    """Config changed by a ``session.update``, and one error per bad field (the rest apply).

    A bad voice name must never cost the instructions sent beside it (issue 16); only a
    ``session`` that is not an object, or not a realtime session, changes nothing.
    """
    session = event.get("session")
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None

    def bad(param: str, message: str) -> p.ProtocolError:
        return p.ProtocolError("invalid_value", message, param=param, event_id=event_id)

    if not isinstance(session, dict):
        raise bad("session", "Field 'session' must be an object.")
    if session.get("type", "realtime") != "realtime":
        raise bad("session.type", "Only 'realtime' sessions are supported.")
    changes: dict[str, Any] = {}
    problems: list[p.ProtocolError] = []
    readers: list[Callable[[], dict[str, Any]]] = [
        lambda: _instructions(session, bad),
        lambda: _modality(session, bad),
        lambda: _cap(session, bad),
        lambda: _model(session, bad),
        lambda: _tools(session, bad),
        *_audio_readers(session.get("audio"), bad),
        lambda: _listening(config, session.get("audio"), bad),
        lambda: _extension_changes(session.get("talkterm"), bad),
        lambda: _voices_by_language(config, session.get("talkterm"), bad),
    ]
    for read in readers:
        try:
            changes |= read()
        except p.ProtocolError as exc:
            problems.append(exc)
    return replace(config, **changes), problems


def _instructions(session: dict[str, Any], bad: BadValue) -> dict[str, Any]:
    if "instructions" not in session:
        return {}
    if not isinstance(session["instructions"], str):
        raise bad("session.instructions", "instructions must be a string.")
    return {"instructions": session["instructions"]}


def _modality(session: dict[str, Any], bad: BadValue) -> dict[str, Any]:
    if "output_modalities" not in session:
        return {}
    modalities = session["output_modalities"]
    if modalities not in (["text"], ["audio"]):
        raise bad("session.output_modalities", 'output_modalities must be ["text"] or ["audio"].')
    return {"modality": modalities[0]}


def _cap(session: dict[str, Any], bad: BadValue) -> dict[str, Any]:
    if "max_output_tokens" not in session:
        return {}
    cap = parse_cap(session["max_output_tokens"], "session.max_output_tokens", bad)
    return {"max_output_tokens": cap}


def _model(session: dict[str, Any], bad: BadValue) -> dict[str, Any]:
    if "model" not in session:
        return {}
    model = session["model"]
    if not isinstance(model, str) or not model.strip():
        raise bad("session.model", "model must be a non-empty string.")
    return {"model": model.strip()}


def _tools(session: dict[str, Any], bad: BadValue) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "tools" in session:
        changes["tools"] = parse_tools(session["tools"], "session.tools", bad)
    if "tool_choice" in session:
        changes["tool_choice"] = parse_tool_choice(
            session["tool_choice"], "session.tool_choice", bad
        )
    return changes


def _audio_readers(audio: Any, bad: BadValue) -> list[Callable[[], dict[str, Any]]]:
    """One reader per audio field, so a bad format does not cost the voice beside it."""
    return [
        lambda: _audio_changes(audio, bad, "voice"),
        lambda: _audio_changes(audio, bad, "format"),
        lambda: _audio_changes(audio, bad, "speed"),
    ]


def _listening(config: SessionConfig, audio: Any, bad: BadValue) -> dict[str, Any]:
    """``session.audio.input`` (a non-object ``audio`` is reported by the voice's reader)."""
    if not isinstance(audio, dict) or "input" not in audio:
        return {}
    return {"listening": input_changes(config.listening, audio["input"], bad)}


def _audio_changes(audio: Any, bad: BadValue, name: str) -> dict[str, Any]:
    if audio is None:
        return {}
    if not isinstance(audio, dict):
        if name != "voice":  # said once, not once per field
            return {}
        raise bad("session.audio", "audio must be an object.")
    output = audio.get("output")
    if output is None:
        return {}
    if not isinstance(output, dict):
        if name != "voice":
            return {}
        raise bad("session.audio.output", "audio.output must be an object.")
    if name not in output:
        return {}
    if name == "voice":
        if not isinstance(output["voice"], str) or not output["voice"].strip():
            raise bad("session.audio.output.voice", "voice must be a non-empty string.")
        return {"voice": output["voice"]}
    if name == "format":
        return {"audio_format": _audio_format(output["format"], bad)}
    return {"speed": _speed(output["speed"], bad)}


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
    for name in ("binary_audio", "extensions"):
        if name in ext:
            if not isinstance(ext[name], bool):
                raise bad(f"session.talkterm.{name}", f"{name} must be true or false.")
            changes[name] = ext[name]
    return changes


def _voices_by_language(config: SessionConfig, ext: Any, bad: BadValue) -> dict[str, Any]:
    """``session.talkterm.language_voices`` merged over the session's (null: automatic)."""
    if not isinstance(ext, dict) or "language_voices" not in ext:
        return {}  # a non-object ``talkterm`` is reported by _extension_changes
    merged = {**config.language_voices, **_language_voices(ext["language_voices"], bad)}
    return {"language_voices": {k: v for k, v in merged.items() if v is not None}}


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
