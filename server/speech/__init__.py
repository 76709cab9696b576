"""Speech: text-to-speech engines (a small interface, one module per engine, a registry)
beside what feeds them: the sentence splitter, speakable text and audio formats.

Every engine yields PCM16 mono 24 kHz little-endian chunks for one segment of
text. Cancelling the consumer or closing the generator stops the engine at once
(the subprocess is killed and reaped, the HTTP stream is closed).

Adding an engine: a module here with a ``TTSProvider`` subclass whose
``from_settings`` reads its own section of ``Settings.tts``, one entry in
``PROVIDERS``, and that section in ``server.config``. ``server.speech.setup``
chooses the engine at startup (and its fallback), as ``server.llm.setup`` does
for the LLM.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any, Final, Self

from server.errors import TTSUnavailable
from server.speech.sentences import SentenceSplitter

if TYPE_CHECKING:
    from server.config import Settings

# The Realtime API's speed range; a server pace times a session's speed is kept within it,
# so --speed 1.2 with a session at 1.5 speaks at 1.5 rather than failing.
PACE_RANGE: Final = (0.25, 1.5)
# The Realtime API's voice names: a client's choice of "the default", in no language. OpenAI
# clients send one by default (openai-agents: "ash"); an engine that has no voice of that
# name speaks them with its default voice.
REALTIME_VOICES: Final = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"}
)


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
    speaks_any_language: bool = False
    """Whether every voice reads every language (a remote multilingual model)."""

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
    ) -> AsyncGenerator[bytes, None]:
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

    def language_voice(self, language: str) -> str | None:
        """This engine's installed voice for ``language`` (an espeak-ng code), or None."""
        return None

    def installed_voices(self) -> dict[str, list[str]]:
        """The installed voices per language (espeak-ng code → names); {} when it cannot say."""
        return {}

    def readable(self, text: str, voice: str | None) -> str:
        """The part of ``text`` that ``voice`` reads as words (what it would spell is left out)."""
        return text

    def voice_examples(self) -> list[str]:
        """A few voices to suggest when a client names an unknown one."""
        return []

    async def aclose(self) -> None:
        """Release long-lived resources such as HTTP connection pools."""
        return None


def unknown_voice(engine: TTSProvider, voice: str) -> str | None:
    """What to tell a client that chose ``voice``, if ``engine`` does not know it."""
    if engine.accepts(voice) or voice in REALTIME_VOICES:
        return None
    examples = ", ".join(engine.voice_examples())
    hints = [f"try {examples}"] if examples else []
    hints += [engine.voice_hint] if engine.voice_hint else []
    where = f" ({'; '.join(hints)})" if hints else ""
    return f"Voice {voice!r} is not one of the {engine.label} voices{where}."


def engine_voice(engine: TTSProvider | None, voice: str | None) -> str | None:
    """The voice to ask ``engine`` for: None (its default) for an OpenAI name it lacks."""
    if engine is not None and voice in REALTIME_VOICES and not engine.accepts(voice):
        return None
    return voice


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
