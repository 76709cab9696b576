"""Speech: text-to-speech engines (a small interface, one module per engine, a registry)
beside what feeds them: the sentence splitter, speakable text and audio formats.

Every engine yields PCM16 mono 24 kHz little-endian chunks for one segment of
text. Cancelling the consumer or closing the generator stops the engine at once
(the subprocess is killed and reaped, the HTTP stream is closed).

Adding an engine: a module here with a ``TTSProvider`` subclass whose
``from_settings`` reads its own section of ``Settings.tts``, one entry in
``PROVIDERS``, and that section in ``server.config``. An engine with an entry in
``FALLBACKS`` gives way to it, with one log line saying why, when it cannot speak.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Final, Self

from server.errors import TalktermError, TTSUnavailable
from server.speech.sentences import SentenceSplitter

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger("talkterm.server")

# The Realtime API's speed range; a server pace times a session's speed is kept within it,
# so --speed 1.2 with a session at 1.5 speaks at 1.5 rather than failing.
PACE_RANGE: Final = (0.25, 1.5)


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
    first_clause_min: int = 10
    """Shortest first clause worth its own request (the splitter's ``first_clause_min``)."""
    first_fragment: int = 0
    """Fewest characters of an opening fragment cut from a long first sentence (0: never)."""
    voice: str | None = None
    """The voice used when a request names none (shown in the ready line and session.created)."""
    speed: float = 1.0
    """The engine's own pace (``--speed``); a request's ``speed`` multiplies it."""

    def splitter(self) -> SentenceSplitter:
        """A sentence splitter cutting the opening as this engine starts speaking soonest."""
        return SentenceSplitter(
            first_clause_min=self.first_clause_min, first_fragment=self.first_fragment
        )

    def pace(self, speed: float) -> float:
        """The engine's pace times a request's ``speed``, kept within what engines accept."""
        low, high = PACE_RANGE
        return min(high, max(low, self.speed * speed))

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Build the engine from its section of ``settings.tts`` (and the shared timeouts)."""

    @abstractmethod
    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> AsyncIterator[bytes]:
        """Yield PCM16 mono 24 kHz little-endian audio chunks for text (first chunk ASAP).

        ``speed`` scales the engine's own pace (``--speed``), as the Realtime API's
        ``audio.output.speed`` does: 1.5 is half as fast again.
        """

    def problem(self) -> str | None:
        """Why this engine cannot speak on this machine (e.g. not installed), or None."""
        return None

    def voices(self) -> frozenset[str] | None:
        """The voice names the engine knows, or None when any name may work."""
        return None

    def accepts(self, voice: str) -> bool:
        """Whether ``voice`` names a voice of this engine (any name, if it cannot tell)."""
        known = self.voices()
        return known is None or voice in known

    def voice_examples(self) -> list[str]:
        """A few voices to suggest when a client names an unknown one."""
        return []

    async def aclose(self) -> None:
        """Release long-lived resources such as HTTP connection pools."""
        return None


def unknown_voice(engine: TTSProvider, voice: str) -> str | None:
    """What to tell a client that chose ``voice``, if ``engine`` does not know it."""
    if engine.accepts(voice):
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


def _piper() -> type[TTSProvider]:
    try:
        from server.speech.piper import PiperTTS
    except ImportError as exc:  # piper-tts (or numpy) missing: the fallback speaks instead
        raise TTSUnavailable(f"piper-tts is not installed ({exc.name} is missing)") from None
    return PiperTTS


def _openai() -> type[TTSProvider]:
    from server.speech.openai_speech import OpenAISpeechTTS

    return OpenAISpeechTTS


# "none" is not a provider: the caller skips synthesis altogether.
PROVIDERS: dict[str, Callable[[], type[TTSProvider]]] = {
    "piper": _piper,
    "espeak": _espeak,
    "openai": _openai,
}


# Who speaks when an engine cannot load on this machine: Piper needs its wheel, a
# model and a CPU ONNX Runtime supports; espeak-ng is a small system package.
FALLBACKS: dict[str, str] = {"piper": "espeak"}


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
    """The engine ``settings.tts.engine`` names (or its fallback), else None and the reason."""
    name = settings.tts.engine
    if name == "none":
        return None, None
    engine, problem = await _build(name, settings)
    fallback = FALLBACKS.get(name)
    if problem is not None and fallback is not None:
        log.warning("%s; falling back to %s", problem.rstrip("."), provider_class(fallback).label)
        engine, problem = await _stand_in(fallback, settings)
    if problem is not None:
        log.warning(problem)
        return None, problem
    assert engine is not None
    # Asked once now: an engine may list its voices slowly (espeak-ng runs a subprocess),
    # and the first session.update naming a voice should not wait for it.
    engine.voices()
    return engine, None


def default_voice(engine: TTSProvider | None, settings: Settings) -> str | None:
    """The configured voice for new sessions, unless the engine speaking does not know it."""
    voice = settings.tts.voice
    if engine is None or voice is None or engine.accepts(voice):
        return voice
    return None


async def _build(name: str, settings: Settings) -> tuple[TTSProvider | None, str | None]:
    """The engine, or None and why it cannot speak (nothing logged here)."""
    try:
        engine = provider_class(name).from_settings(settings)
    except TalktermError as exc:
        return None, exc.message
    problem = engine.problem()
    if problem is not None:
        await engine.aclose()
        return None, problem
    return engine, None


async def _stand_in(name: str, settings: Settings) -> tuple[TTSProvider | None, str | None]:
    """The fallback engine with the configured voice if it has it, else with its own."""
    engine, problem = await _build(name, _switched(settings, name))
    voice = settings.tts.voice
    if voice is None or (engine is not None and engine.accepts(voice)):
        return engine, problem
    # The voice was the first engine's (a Piper model name or path): not this one's.
    if engine is not None:
        await engine.aclose()
    return await _build(name, _switched(settings, name, voice=None))


def _switched(settings: Settings, name: str, **changes: Any) -> Settings:
    tts = settings.tts.model_copy(update={"engine": name, **changes})
    return settings.model_copy(update={"tts": tts})
