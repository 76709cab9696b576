"""What a person chose for their answers: model, voice, speaking rate, system prompt and
the voice per language.

One shape for the config file's ``[preferences]`` table and for a conversation's
stored settings (``to_dict``/``from_dict``), and the ``session.update`` that asks
the server for them. Unset fields leave the server's own defaults alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from server import protocol as p

SPEED_MIN = 0.25
SPEED_MAX = 1.5
"""The speaking rates Realtime's ``audio.output.speed`` accepts."""


def check_speed(value: float | str) -> float:
    """The speaking rate as a float in range; ValueError in plain words otherwise."""
    try:
        speed = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"The speaking rate must be a number, not {value!r}.") from None
    if not SPEED_MIN <= speed <= SPEED_MAX:
        raise ValueError(
            f"The speaking rate must be between {SPEED_MIN} and {SPEED_MAX} (1.0 is normal); "
            f"{speed:g} is out of range."
        )
    return speed


@dataclass(frozen=True, slots=True)
class Preferences:
    """Answer settings; None means "as the server decides"."""

    model: str | None = None
    voice: str | None = None
    speed: float | None = None
    instructions: str | None = None
    """The system prompt (persona)."""
    language_voices: dict[str, str] | None = None
    """The voice per language over the server's automatic one (``{"cmn": "yue"}``)."""

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, e.g. {"voice": "en-us", "speed": 1.25}."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preferences:
        """Read what ``to_dict`` wrote (other keys are ignored; a bad value raises ValueError)."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known and value is not None}
        for key in ("model", "voice", "instructions"):
            if key in values and not isinstance(values[key], str):
                raise ValueError(f"{key} must be text, not {values[key]!r}.")
        if "speed" in values:
            values["speed"] = check_speed(values["speed"])
        if "language_voices" in values:
            values["language_voices"] = _language_voices(values["language_voices"])
        return cls(**values)

    def session_update(self, cleared: Iterable[str] = ()) -> dict[str, Any] | None:
        """The session.update that asks for these choices; None when nothing is chosen.

        ``cleared`` names languages whose voice was chosen before and no longer is: the
        server is told to go back to its automatic choice for them.
        """
        session: dict[str, Any] = {"type": "realtime"}
        per_language = {**dict.fromkeys(cleared), **(self.language_voices or {})}
        if per_language:
            session["talkterm"] = {"language_voices": per_language}
        if self.model is not None:
            session["model"] = self.model
        if self.instructions is not None:
            session["instructions"] = self.instructions
        output = {
            key: value
            for key, value in (("voice", self.voice), ("speed", self.speed))
            if value is not None
        }
        if output:
            session["audio"] = {"output": output}
        return {"type": p.SESSION_UPDATE, "session": session} if len(session) > 1 else None


def _language_voices(value: Any) -> dict[str, str] | None:
    """A stored voice per language, checked: text to text; empty means none chosen."""
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(voice, str) and key and voice
        for key, voice in value.items()
    ):
        raise ValueError(f"language_voices must map languages to voice names, not {value!r}.")
    return dict(value) or None
