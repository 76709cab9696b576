"""A fuzz program: the frames one session sends, with placeholders filled in at send time."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Final

from server import protocol as p
from tests.fuzz.wire import Wire

# Placeholders resolved when the frame is sent, from what the session has seen.
EID: Final = "$EID"  # a fresh, unique event_id
PRELUDE: Final = "$PRELUDE"  # the id of the assistant item of the turn before the fuzzing
END_OK: Final = "$END_OK"  # an audio_end_ms inside that item's audio
END_OVER: Final = "$END_OVER"  # an audio_end_ms past its end
# Room left for the rest of a frame that carries a Filler.
FILLER_MAX: Final = p.MAX_FRAME_BYTES - 512


@dataclass(frozen=True)
class Filler:
    """``n`` ASCII characters, kept short in hypothesis' reports."""

    n: int
    char: str = "x"

    def text(self) -> str:
        """The characters themselves."""
        return self.char * self.n


@dataclass(frozen=True)
class Nest:
    """``depth`` levels of JSON arrays (or ``{"a": ...}`` objects)."""

    depth: int
    objects: bool = False

    def text(self) -> str:
        """The nesting as JSON text."""
        if self.objects:
            return '{"a":' * self.depth + "1" + "}" * self.depth
        return "[" * self.depth + "]" * self.depth


@dataclass(frozen=True)
class Sleep:
    """Let responses run for a moment between two frames."""

    seconds: float


Op = dict[str, Any] | Wire | Filler | Nest | Sleep


@dataclass(frozen=True)
class Program:
    """What one example does to its session."""

    reply: str
    ops: tuple[Op, ...]
    # Seconds the started responses may stream before the cleanup cancel.
    linger: float = 0.0
    # Bytes of a last, too-big frame (closes with 1009), or None.
    oversize: int | None = None


@dataclass
class Resolver:
    """Fills placeholders in from the session's own facts."""

    prelude_id: str
    prelude_audio_ms: float
    prefix: str = "fz"
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def wire(self, op: Filler | Nest | Wire | dict[str, Any]) -> Wire:
        """The frame for an op."""
        if isinstance(op, Wire):
            return op
        if isinstance(op, Filler | Nest):
            return Wire.of(op.text())
        return Wire.of(json.dumps(self.value(op)))

    def value(self, value: Any) -> Any:
        """``value`` with every placeholder replaced."""
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, Filler):
            return value.text()
        if isinstance(value, Nest):
            return json.loads(value.text())
        if value == EID:
            return f"{self.prefix}-{next(self._ids)}"
        if value == PRELUDE:
            return self.prelude_id
        if value == END_OK:
            return int(self.prelude_audio_ms)
        if value == END_OVER:
            return int(self.prelude_audio_ms) + 2
        return value


def dumps(event: dict[str, Any]) -> str:
    """JSON for an event, placeholders left as they are (for frames that are broken anyway)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Filler):
            return value.text()
        if isinstance(value, Nest):
            return json.loads(value.text())
        raise TypeError(type(value).__name__)

    return json.dumps(event, default=plain)
