"""Text-to-speech providers: a small interface, one module per engine, a registry.

Every provider yields PCM16 mono 24 kHz little-endian chunks for one segment of
text. Cancelling the consumer or closing the generator stops the engine at once
(the subprocess is killed and reaped, the HTTP stream is closed).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import Any


class TTSProvider(ABC):
    """A speech engine that turns one segment of text into streamed PCM."""

    name: str
    voice: str | None = None
    """The voice used when a request names none (shown in logs and session.created)."""

    @abstractmethod
    def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[bytes]:
        """Yield PCM16 mono 24 kHz little-endian audio chunks for text (first chunk ASAP)."""

    def voices(self) -> list[str] | None:
        """Voice names this engine accepts, or None when it cannot tell."""
        return None

    async def aclose(self) -> None:
        """Release long-lived resources such as HTTP connection pools."""
        return None


def _espeak(**options: Any) -> TTSProvider:
    # Imported on use so choosing one engine never loads the other's dependencies.
    from server.tts.espeak import EspeakTTS

    return EspeakTTS(**options)


def _piper(**options: Any) -> TTSProvider:
    try:
        from server.tts.piper import PiperTTS
    except ImportError as exc:
        from server.errors import TTSUnavailable

        raise TTSUnavailable(f"piper-tts is not installed ({exc.name} is missing)") from None

    return PiperTTS(**options)


def _openai(**options: Any) -> TTSProvider:
    from server.tts.openai_speech import OpenAISpeechTTS

    return OpenAISpeechTTS(**options)


# "none" is not a provider: the caller skips synthesis altogether.
PROVIDERS: dict[str, Callable[..., TTSProvider]] = {
    "espeak": _espeak,
    "openai": _openai,
    "piper": _piper,
}


def make_tts(name: str, **options: Any) -> TTSProvider:
    """Build the provider registered as ``name`` with its keyword options."""
    try:
        factory = PROVIDERS[name]
    except KeyError:
        known = ", ".join([*sorted(PROVIDERS), "none"])
        raise ValueError(f"unknown TTS provider {name!r}; choose one of {known}") from None
    return factory(**options)
