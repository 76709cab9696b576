"""The plain parts of one response: how it is spoken, what it measured, who it is for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.speech import TTSProvider
from server.speech.audio_format import Encoder
from server.speech.slots import SynthesisSlots


@dataclass(slots=True)
class Voice:
    """How this response is spoken: engine, voice and wire format."""

    tts: TTSProvider | None
    name: str | None
    encoder: Callable[[], Encoder]
    format: dict[str, Any]
    speed: float = 1.0
    languages: dict[str, str] = field(default_factory=dict)
    """The session's own voice per language, over the server's."""
    slots: SynthesisSlots | None = None
    owner: str = ""
    told: set[str] = field(default_factory=set)
    """Notices already given: the session's own set, so each is said once per session."""


@dataclass(slots=True)
class Timings:
    """Milestones of one response, in perf_counter seconds."""

    started: float = field(default_factory=time.perf_counter)
    first_text: float | None = None
    first_audio: float | None = None
    ended: float | None = None

    def as_ms(self) -> dict[str, float | None]:
        """The milestones as milliseconds since the response was created."""

        def since(moment: float | None) -> float | None:
            return None if moment is None else round((moment - self.started) * 1000, 1)

        return {
            "time_to_first_text_ms": since(self.first_text),
            "time_to_first_audio_ms": since(self.first_audio),
            "duration_ms": since(self.ended),
        }


class Audience(Protocol):
    """Who the answer is for: synthesis waits while nobody is there (an ``Outlet``)."""

    present: asyncio.Event

    def accepting(self) -> bool:
        """Whether the answer may send more now."""
        ...


def synthesis_slot(voice: Voice) -> AbstractAsyncContextManager[None]:
    """A server-wide synthesis slot for this voice's session, if slots are limited."""
    return voice.slots.hold(voice.owner) if voice.slots is not None else nullcontext()
