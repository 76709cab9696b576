"""Choose the speech engine at startup.

The engine ``settings.tts.engine`` names, built from its own settings section; if it
cannot speak on this machine and has an entry in ``FALLBACKS``, that engine instead,
with one log line saying why; else no speech, and the reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from server.config import Settings
from server.errors import TalktermError
from server.speech import TTSProvider, provider_class
from server.speech.polyglot import configure, polyglot

log = logging.getLogger("talkterm.server")

# Who speaks when an engine cannot load on this machine: Piper needs its wheel, a
# model and a CPU ONNX Runtime supports; espeak-ng is a small system package.
FALLBACKS: dict[str, str] = {"piper": "espeak"}
_warming: set[asyncio.Future[None]] = set()  # held until done: the loop keeps futures weakly


async def choose_tts(settings: Settings) -> tuple[TTSProvider | None, str | None]:
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
    unknown = configure(engine, settings.tts.language_voices)
    # espeak-ng's voice list and the language model (≈ 0.3 s) load in a thread while the
    # server starts listening: neither the ready line nor the first answer waits for them.
    warming = asyncio.get_running_loop().run_in_executor(None, polyglot(engine).warm)
    _warming.add(warming)
    warming.add_done_callback(_warming.discard)
    if unknown:
        log.warning(
            "language voices %s are not voices of %s or espeak-ng; the automatic choice "
            "speaks those languages",
            ", ".join(unknown),
            engine.label,
        )
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
