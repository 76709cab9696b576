"""Every speech engine is built the same way, and speaks for itself about voices and problems."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Self

from server.config import Settings
from server.speech import TTSProvider, unknown_voice
from server.speech.setup import choose_tts


class Chorus(TTSProvider):
    """A stand-in engine that knows three voices."""

    name = "chorus"
    label = "Chorus"
    voice_hint = "`chorus --list` shows them"

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls()

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    def voices(self) -> frozenset[str] | None:
        return frozenset({"alto", "tenor", "bass"})

    def voice_examples(self) -> list[str]:
        return ["alto", "bass"]


def test_the_unknown_voice_message_comes_from_the_engine() -> None:
    message = unknown_voice(Chorus(), "soprano")
    assert message == (
        "Voice 'soprano' is not one of the Chorus voices "
        "(try alto, bass; `chorus --list` shows them)."
    )
    assert unknown_voice(Chorus(), "tenor") is None


async def test_an_engine_that_accepts_any_voice_refuses_none() -> None:
    engine, problem = await choose_tts(
        Settings(tts="openai", tts_base_url="http://127.0.0.1:1")
    )
    assert engine is not None and problem is None
    assert engine.voices() is None and unknown_voice(engine, "anything") is None
    await engine.aclose()


async def test_a_missing_engine_says_why_and_none_means_none() -> None:
    engine, problem = await choose_tts(
        Settings(tts="espeak", espeak_executable="no-such-espeak-ng")
    )
    assert engine is None and problem is not None and "no-such-espeak-ng" in problem
    assert await choose_tts(Settings(tts="none")) == (None, None)
