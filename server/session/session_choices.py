"""The choices a client makes that need more than the event itself to check.

The model must be one the upstream offers (its list may have grown since the server
started, so an unknown name asks again before refusing); a response's own
``max_output_tokens`` overrides the session's for that answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from server import protocol as p
from server.llm import LLMProvider
from server.session.session_config import DEFAULT_MODEL_ALIAS, SessionConfig, parse_cap
from server.speech import TTSProvider, engine_voice
from server.speech.polyglot import LanguageVoices, polyglot

_LISTED = 20


async def checked_model(
    event: dict[str, Any],
    config: SessionConfig,
    llm: LLMProvider,
    refresh: Callable[[], Awaitable[list[str] | None]],
) -> SessionConfig:
    """``config`` with a model the upstream offers; "talkterm" stands for the default.

    An OpenAI Realtime model name (``gpt-realtime*``, ``gpt-4o-realtime-preview``…), which
    OpenAI clients send by default, also means the server's model; ``asked_model`` keeps
    what was asked so session.updated can say so.
    """
    if config.model == DEFAULT_MODEL_ALIAS:
        return replace(config, model=llm.model, asked_model=None)
    known = await refresh()
    if _openai_realtime(config.model) and (known is None or config.model not in known):
        return replace(config, model=llm.model, asked_model=config.model)
    if known is not None and config.model not in known:
        listed = ", ".join(known[:_LISTED]) + (", …" if len(known) > _LISTED else "")
        raise _bad(
            event,
            "session.model",
            f"Model {config.model!r} is not offered by {llm.label}; choose one of: {listed}.",
        )
    return replace(config, asked_model=None)


def _openai_realtime(model: str) -> bool:
    """Whether ``model`` names one of OpenAI's own speech-to-speech models."""
    return model.startswith("gpt-") and "realtime" in model


def checked_language_voices(
    event: dict[str, Any], config: SessionConfig, engine: TTSProvider | None
) -> None:
    """Refuse a voice per language that neither the engine nor espeak-ng has."""
    if engine is None:
        return
    book = polyglot(engine)
    for language, voice in config.language_voices.items():
        if not book.knows(voice):
            raise _bad(
                event,
                f"session.talkterm.language_voices.{language}",
                f"Voice {voice!r} is neither a {engine.label} voice nor an espeak-ng one "
                "(`espeak-ng --voices` lists those).",
            )


def language_voices(config: SessionConfig, engine: TTSProvider | None) -> dict[str, str]:
    """The voices chosen per language: the server's, then the session's own over them."""
    configured = polyglot(engine).voices if engine is not None else {}
    return {**configured, **config.language_voices}


def language_catalog(
    config: SessionConfig, engine: TTSProvider | None
) -> dict[str, LanguageVoices]:
    """Each language with a voice installed: its voices and the one speaking it (``languages``)."""
    if engine is None:
        return {}
    return polyglot(engine).catalog(engine_voice(engine, config.voice), config.language_voices)


def response_cap(event: dict[str, Any], default: int | None) -> int | None:
    """The cap for one answer: ``response.max_output_tokens``, else the session's."""
    response = event.get("response")
    if not isinstance(response, dict) or "max_output_tokens" not in response:
        return default
    return parse_cap(
        response["max_output_tokens"],
        "response.max_output_tokens",
        lambda param, message: _bad(event, param, message),
    )


def _bad(event: dict[str, Any], param: str, message: str) -> p.ProtocolError:
    event_id = event.get("event_id")
    return p.ProtocolError(
        "invalid_value",
        message,
        param=param,
        event_id=event_id if isinstance(event_id, str) else None,
    )
