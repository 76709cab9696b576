"""Speech: text-to-speech engines (a small interface, one module per engine, a registry)
beside what feeds them: the sentence splitter, speakable text and audio formats.

Every engine yields PCM16 mono 24 kHz little-endian chunks for one segment of
text. Cancelling the consumer or closing the generator stops the engine at once
(the subprocess is killed and reaped, the HTTP stream is closed).

Adding an engine: a module here with a ``TTSProvider`` subclass whose
``from_settings`` reads its own section of ``Settings.tts``, one entry in
``PROVIDERS``, and that section in ``server.config``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Self

from server.errors import TalktermError

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger("talkterm.server")


class TTSProvider(ABC):
    """A speech engine that turns one segment of text into streamed PCM."""

    name: str
    """The engine's name in the registry and in settings (``--tts``)."""
    label: str
    """What a person calls it, for messages (e.g. "espeak-ng")."""
    voice_hint: str = ""
    """Where to find the engine's voices, for the unknown-voice message."""
    synthesis_jobs: int = 64
    """How many syntheses may run at once across all sessions, unless settings say."""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Build the engine from its section of ``settings.tts`` (and the shared timeouts)."""

    @abstractmethod
    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> AsyncIterator[bytes]:
        """Yield PCM16 mono 24 kHz audio chunks for text (first chunk ASAP).

        ``speed`` is the speaking rate relative to normal (0.25-1.5, the Realtime API's
        range); an engine that cannot change its rate ignores it.
        """

    def problem(self) -> str | None:
        """Why this engine cannot speak on this machine (e.g. not installed), or None."""
        return None

    def voices(self) -> frozenset[str] | None:
        """The voice names the engine knows, or None when any name may work."""
        return None

    def voice_examples(self) -> list[str]:
        """A few voices to suggest when a client names an unknown one."""
        return []

    async def aclose(self) -> None:
        """Release long-lived resources such as HTTP connection pools."""
        return None


def unknown_voice(engine: TTSProvider, voice: str) -> str | None:
    """What to tell a client that chose ``voice``, if ``engine`` does not know it."""
    known = engine.voices()
    if known is None or voice in known:
        return None
    examples = ", ".join(engine.voice_examples())
    hints = [f"try {examples}"] if examples else []
    hints += [engine.voice_hint] if engine.voice_hint else []
    where = f" ({'; '.join(hints)})" if hints else ""
    return f"Voice {voice!r} is not one of the {engine.label} voices{where}."


def _espeak() -> type[TTSProvider]:
    # Imported on use so choosing one engine never loads the other's dependencies.
    from server.speech.espeak import EspeakTTS

    return EspeakTTS


def _openai() -> type[TTSProvider]:
    from server.speech.openai_speech import OpenAISpeechTTS

    return OpenAISpeechTTS


# "none" is not a provider: the caller skips synthesis altogether.
PROVIDERS: dict[str, Callable[[], type[TTSProvider]]] = {
    "espeak": _espeak,
    "openai": _openai,
}


def provider_class(name: str) -> type[TTSProvider]:
    """The engine class registered as ``name``."""
    try:
        load = PROVIDERS[name]
    except KeyError:
        known = ", ".join([*sorted(PROVIDERS), "none"])
        raise ValueError(f"unknown TTS provider {name!r}; choose one of {known}") from None
    return load()


def make_tts(name: str, **options: Any) -> TTSProvider:
    """Build the engine registered as ``name`` with its keyword options."""
    return provider_class(name)(**options)


async def tts_from_settings(settings: Settings) -> tuple[TTSProvider | None, str | None]:
    """The engine ``settings.tts.engine`` names, or None and the reason to tell users."""
    name = settings.tts.engine
    if name == "none":
        return None, None
    try:
        engine = provider_class(name).from_settings(settings)
    except TalktermError as exc:
        log.warning(exc.message)
        return None, exc.message
    problem = engine.problem()
    if problem is not None:
        log.warning(problem)
        await engine.aclose()
        return None, problem
    # Asked once now: an engine may list its voices slowly (espeak-ng runs a subprocess),
    # and the first session.update naming a voice should not wait for it.
    engine.voices()
    return engine, None
