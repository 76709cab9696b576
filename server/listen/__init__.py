"""Listening: speech-to-text engines (a small interface, one module per engine, a registry)
beside the voice-activity detector that gates them.

Every engine takes one turn of speech as float32 mono samples at 16 kHz (what Whisper
and Silero expect; the session converts the client's 24 kHz PCM or G.711) and yields
the words as text deltas. Nothing is downloaded at run time: the default engine's model
is a pip package, and the voice-activity model ships inside faster-whisper.

Adding an engine: a module here with an ``STTProvider`` subclass whose ``from_settings``
reads its own section of ``Settings.stt``, one entry in ``PROVIDERS``, that section in
``server.config`` and its name in ``STTName``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Final, Self

import numpy as np
import numpy.typing as npt

from server.errors import TalktermError

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger("talkterm.server")

# Whisper's and Silero's rate: every engine is handed audio at this rate.
LISTEN_RATE: Final = 16_000
Samples = npt.NDArray[np.float32]


class STTError(TalktermError):
    """A recognizer failed on one turn (the session goes on)."""

    code = "transcription_failed"


class STTUnavailable(STTError):
    """No recognizer can run: not installed, no model, or ``--stt none``."""

    code = "stt_unavailable"


class STTProvider(ABC):
    """A recognizer that turns one turn of speech into words."""

    name: str
    """The engine's name in the registry and in settings (``--stt``)."""
    label: str
    """What a person calls it, for messages (e.g. "faster-whisper tiny.en")."""
    model: str
    """The model that listens (shown in session.created and the ready line)."""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Build the engine from its section of ``settings.stt``."""

    @abstractmethod
    def transcribe(
        self, audio: Samples, *, language: str | None = None, prompt: str | None = None
    ) -> AsyncIterator[str]:
        """Yield the words of ``audio`` (16 kHz float32 mono) as text deltas, in order."""

    def problem(self) -> str | None:
        """Why this engine cannot listen on this machine, or None."""
        return None

    async def load(self) -> None:
        """Load and warm the model (after the ready line); transcribe waits for it."""
        return None

    def language_problem(self, language: str) -> str | None:
        """Why this engine cannot hear ``language`` (a valid code), or None."""
        return None

    def model_for(self, requested: str | None) -> str:
        """The model that serves a client's ``model`` name (an unknown one means the default)."""
        return self.model

    async def aclose(self) -> None:
        """Release threads and connection pools."""
        return None


def _whisper() -> type[STTProvider]:
    try:
        from server.listen.whisper import WhisperSTT
    except ImportError as exc:  # faster-whisper missing: say so, typing still works
        raise STTUnavailable(f"faster-whisper is not installed ({exc.name} is missing)") from None
    return WhisperSTT


def _openai() -> type[STTProvider]:
    from server.listen.remote import RemoteSTT

    return RemoteSTT


# "none" is not a provider: the session refuses audio input with a plain-words error.
PROVIDERS: dict[str, Callable[[], type[STTProvider]]] = {
    "faster-whisper": _whisper,
    "openai": _openai,
}


def provider_class(name: str) -> type[STTProvider]:
    """The engine class registered as ``name``."""
    try:
        load = PROVIDERS[name]
    except KeyError:
        known = ", ".join([*sorted(PROVIDERS), "none"])
        raise ValueError(f"unknown STT provider {name!r}; choose one of {known}") from None
    return load()


async def stt_from_settings(settings: Settings) -> tuple[STTProvider | None, str | None]:
    """The engine ``settings.stt.engine`` names, else None and why it cannot listen."""
    name = settings.stt.engine
    if name == "none":
        return None, "Voice input is off on this server (--stt none)."
    try:
        engine = provider_class(name).from_settings(settings)
    except TalktermError as exc:
        log.warning("voice input unavailable: %s", exc.message)
        return None, exc.message
    problem = engine.problem()
    if problem is not None:
        log.warning("voice input unavailable: %s", problem)
        await engine.aclose()
        return None, problem
    return engine, None
