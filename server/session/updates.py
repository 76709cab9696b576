"""``session.update``: every good field applies, each bad one is reported on its own.

OpenAI clients send OpenAI's defaults (voice ``ash``, model ``gpt-realtime``); both mean
the server's own choice rather than an error, so their instructions always arrive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from server import protocol as p
from server.listen import STTProvider
from server.llm import LLMProvider
from server.session.client_events import bad_event
from server.session.session_choices import checked_language_voices, checked_model
from server.session.session_config import SessionConfig, apply_update
from server.speech import TTSProvider, unknown_voice


async def updated_config(
    config: SessionConfig,
    event: dict[str, Any],
    *,
    tts: TTSProvider | None,
    llm: LLMProvider,
    refresh: Callable[[], Awaitable[list[str] | None]],
    stt: STTProvider | None = None,
) -> tuple[SessionConfig, list[p.ProtocolError]]:
    """``config`` with the update's good fields, and an error for each bad one."""
    new, problems = apply_update(config, event)
    if (problem := _unheard_language(config, new, stt)) is not None:
        param = "session.audio.input.transcription.language"
        problems.append(bad_event(event, "invalid_value", problem, param))
        kept = replace(
            new.listening.transcription, language=config.listening.transcription.language
        )
        new = replace(new, listening=replace(new.listening, transcription=kept))
    changed = new.voice if new.voice != config.voice else None
    problem = unknown_voice(tts, changed) if tts is not None and changed else None
    if problem is not None:
        problems.append(bad_event(event, "invalid_value", problem, "session.audio.output.voice"))
        new = replace(new, voice=config.voice)
    if new.language_voices != config.language_voices:
        try:
            checked_language_voices(event, new, tts)
        except p.ProtocolError as exc:
            problems.append(exc)
            new = replace(new, language_voices=config.language_voices)
    if new.model != config.model:
        try:
            new = await checked_model(event, new, llm, refresh)
        except p.ProtocolError as exc:
            problems.append(exc)
            new = replace(new, model=config.model)
    return new, problems


def _unheard_language(
    old: SessionConfig, new: SessionConfig, stt: STTProvider | None
) -> str | None:
    """Why the recognizer cannot hear a newly asked transcription language, or None."""
    language = new.listening.transcription.language
    if stt is None or not language or language == old.listening.transcription.language:
        return None
    return stt.language_problem(language)
