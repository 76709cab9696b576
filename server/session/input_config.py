"""What a client may set of the input side with ``session.update`` (``session.audio.input``).

The Realtime API's shapes: ``format`` (``audio/pcm`` at 24 kHz, ``audio/pcmu``,
``audio/pcma``), ``transcription`` (``model``, ``language``, ``prompt``) and
``turn_detection`` (``null`` for push-to-talk, ``server_vad``, or ``semantic_vad``,
which is approximated by ``server_vad`` with a silence that follows its eagerness).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from server import protocol as p
from server.listen.languages import language_problem

# OpenAI's server_vad defaults.
DEFAULT_THRESHOLD: Final = 0.5
DEFAULT_PREFIX_MS: Final = 300
DEFAULT_SILENCE_MS: Final = 500
# semantic_vad's eagerness as a silence to wait for: a guess at "when has the speaker
# finished", since no model here judges meaning (OpenAI waits up to 8 / 4 / 2 s).
SEMANTIC_SILENCE_MS: Final = {"low": 1200, "medium": 800, "auto": 800, "high": 500}
SEMANTIC_NOTICE: Final = "semantic_vad_approximated"


@dataclass(frozen=True, slots=True)
class TurnDetection:
    """How the server finds the end of a spoken turn by itself."""

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float = DEFAULT_THRESHOLD
    prefix_padding_ms: int = DEFAULT_PREFIX_MS
    silence_duration_ms: int = DEFAULT_SILENCE_MS
    create_response: bool = True
    interrupt_response: bool = True
    eagerness: str = "auto"

    def as_realtime(self) -> dict[str, Any]:
        """The turn_detection object as the Realtime API shapes it."""
        common = {
            "type": self.type,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }
        if self.type == "semantic_vad":
            return common | {"eagerness": self.eagerness}
        return common | {
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
            "idle_timeout_ms": None,
        }


@dataclass(frozen=True, slots=True)
class Transcription:
    """What the client asked of the recognizer."""

    model: str = "whisper-1"
    language: str | None = None
    prompt: str = ""

    def as_realtime(self) -> dict[str, Any]:
        """The transcription object as the Realtime API shapes it."""
        return {"model": self.model, "language": self.language, "prompt": self.prompt}


@dataclass(frozen=True, slots=True)
class InputConfig:
    """The input side of one session."""

    format: dict[str, Any] = field(default_factory=lambda: {"type": "audio/pcm", "rate": 24000})
    transcription: Transcription = field(default_factory=Transcription)
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)

    @property
    def rate(self) -> int:
        """Samples per second of what the client appends (G.711 is 8 kHz)."""
        return p.PCM_RATE if self.format["type"] == "audio/pcm" else 8000

    def as_realtime(self) -> dict[str, Any]:
        """``session.audio.input`` as the Realtime API shapes it."""
        detection = self.turn_detection
        return {
            "format": self.format,
            "transcription": self.transcription.as_realtime(),
            "turn_detection": detection.as_realtime() if detection is not None else None,
            "noise_reduction": None,
        }


def input_changes(config: InputConfig, given: Any, bad: Any) -> InputConfig:
    """``config`` changed by a ``session.audio.input`` object; ``bad`` builds the error."""
    if given is None:
        return config
    if not isinstance(given, dict):
        raise bad("session.audio.input", "audio.input must be an object.")
    changes: dict[str, Any] = {}
    if "format" in given:
        changes["format"] = _format(given["format"], bad)
    if "transcription" in given:
        changes["transcription"] = _transcription(given["transcription"], bad)
    if "turn_detection" in given:
        changes["turn_detection"] = _turn_detection(given["turn_detection"], bad)
    return replace(config, **changes)


def _format(fmt: Any, bad: Any) -> dict[str, Any]:
    param = "session.audio.input.format"
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if not isinstance(kind, str) or kind not in p.AUDIO_FORMATS:
        raise bad(param, f"format.type must be one of {', '.join(sorted(p.AUDIO_FORMATS))}.")
    if kind == "audio/pcm":
        rate = fmt.get("rate", p.PCM_RATE)
        if rate != p.PCM_RATE:
            raise bad(
                param + ".rate",
                f"audio/pcm input must be 24000 Hz mono PCM16; got rate {rate!r}. "
                "Resample before sending, or send audio/pcmu or audio/pcma at 8000 Hz.",
            )
        return {"type": "audio/pcm", "rate": p.PCM_RATE}
    return {"type": kind}


def _transcription(given: Any, bad: Any) -> Transcription:
    param = "session.audio.input.transcription"
    if given is None:  # the words are what the LLM is asked: transcription cannot be off
        return Transcription()
    if not isinstance(given, dict):
        raise bad(param, "transcription must be an object or null.")
    values: dict[str, Any] = {}
    for name in ("model", "language", "prompt"):
        value = given.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise bad(f"{param}.{name}", f"transcription.{name} must be a string.")
        values[name] = value
    language = values.get("language")
    if language == "":  # an empty language means "find out", as no language does
        del values["language"]
    elif language is not None and (problem := language_problem(language)) is not None:
        raise bad(f"{param}.language", f"transcription.language: {problem}")
    return Transcription(**values)


def _turn_detection(given: Any, bad: Any) -> TurnDetection | None:
    param = "session.audio.input.turn_detection"
    if given is None:
        return None
    if not isinstance(given, dict) or given.get("type") not in ("server_vad", "semantic_vad"):
        raise bad(param, 'turn_detection must be null or have type "server_vad" or "semantic_vad".')
    if given["type"] == "semantic_vad":
        eagerness = given.get("eagerness", "auto")
        if eagerness not in SEMANTIC_SILENCE_MS:
            raise bad(param + ".eagerness", "eagerness must be low, medium, high or auto.")
        return TurnDetection(
            type="semantic_vad",
            silence_duration_ms=SEMANTIC_SILENCE_MS[eagerness],
            create_response=_flag(given, "create_response", param, bad),
            interrupt_response=_flag(given, "interrupt_response", param, bad),
            eagerness=eagerness,
        )
    return TurnDetection(
        threshold=_number(given, "threshold", DEFAULT_THRESHOLD, (0.0, 1.0), param, bad),
        prefix_padding_ms=int(
            _number(given, "prefix_padding_ms", DEFAULT_PREFIX_MS, (0, 5000), param, bad)
        ),
        silence_duration_ms=int(
            _number(given, "silence_duration_ms", DEFAULT_SILENCE_MS, (100, 10000), param, bad)
        ),
        create_response=_flag(given, "create_response", param, bad),
        interrupt_response=_flag(given, "interrupt_response", param, bad),
    )


def _flag(given: dict[str, Any], name: str, param: str, bad: Any) -> bool:
    value = given.get(name, True)
    if not isinstance(value, bool):
        raise bad(f"{param}.{name}", f"{name} must be true or false.")
    return value


def _number(
    given: dict[str, Any],
    name: str,
    default: float,
    bounds: tuple[float, float],
    param: str,
    bad: Any,
) -> float:
    value = given.get(name, default)
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad(f"{param}.{name}", f"{name} must be a number from {low:g} to {high:g}.")
    return float(value)


def semantic_notice(before: InputConfig, after: InputConfig) -> str | None:
    """What to tell a client that just asked for semantic_vad, else None."""
    now, was = after.turn_detection, before.turn_detection
    if now is None or now.type != "semantic_vad" or now == was:
        return None
    return (
        f"semantic_vad is approximated here by voice activity: a turn ends after "
        f"{now.silence_duration_ms} ms of silence (eagerness {now.eagerness!r})."
    )
