"""Speak each sentence in its own language: the best installed voice per language run.

A sentence is cut into language runs (``server.speech.language``); each run is said by
the session's engine with a voice of its own for that language (an installed Piper
voice, espeak-ng's voice when espeak-ng is the engine), else by espeak-ng's voice for
it; a language with neither is shown but not spoken, with one notice (the session's
voice would spell it "letter" by "letter"). Latin-script runs are told apart by
``server.speech.latin``. Text in the session's language keeps the session's voice. One
``Polyglot`` per engine, shared by every session.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Final, TypedDict

from server.speech import REALTIME_VOICES, TTSProvider
from server.speech.joins import trimmed
from server.speech.language import SCRIPT_LANGUAGES, Run, letters, runs
from server.speech.latin import available, identify

DEFAULT_LANGUAGE: Final = "en"
# Piper names voices by locale (zh_CN-huayan-medium); espeak-ng calls Mandarin cmn.
_PIPER_LANGUAGES: Final = {"zh": "cmn"}
_VOICE_LANGUAGE: Final = re.compile(r"([a-z]{2,3})(?:[_-]|$)")


class LanguageVoices(TypedDict):
    """A language's entry in ``session.talkterm.languages``."""

    voice: str | None
    """The voice that speaks it now (the session's choice, the server's, or automatic)."""
    automatic: str | None
    """The voice chosen when nobody chooses one."""
    voices: list[str]
    """Every installed voice for it."""


@dataclass(frozen=True, slots=True)
class Part:
    """A run of a sentence and who says it: engine, voice (None: the engine's own)."""

    text: str
    language: str
    engine: TTSProvider
    voice: str | None

    @property
    def voice_name(self) -> str | None:
        """The voice as a client should see it."""
        return self.voice if self.voice is not None else self.engine.voice


@dataclass(frozen=True, slots=True)
class Plan:
    """How one sentence is spoken: its parts in order, and a notice per language left unsaid."""

    parts: list[Part]
    notices: tuple[str, ...] = ()
    """One plain-words notice per language (or unread characters) that is shown, not spoken."""

    @property
    def notice(self) -> str | None:
        """The notices as one message (None when every run is spoken)."""
        return " ".join(self.notices) or None

    @property
    def language(self) -> str | None:
        """The language most of the sentence's letters are in."""
        main = self._main()
        return main.language if main is not None else None

    @property
    def voice(self) -> str | None:
        """The voice of the sentence's main language."""
        main = self._main()
        return main.voice_name if main is not None else None

    def _main(self) -> Part | None:
        counts: dict[str, int] = {}
        for part in self.parts:
            counts[part.language] = counts.get(part.language, 0) + letters(part.text)
        if not counts:
            return None
        language = max(counts, key=lambda name: counts[name])
        return next(part for part in self.parts if part.language == language)


def voice_language(voice: str | None) -> str:
    """The language a voice name says it speaks (en_US-joe → en, cmn → cmn), else English."""
    match = _VOICE_LANGUAGE.match((voice or "").lower())
    if match is None or voice in REALTIME_VOICES:
        return DEFAULT_LANGUAGE
    return _PIPER_LANGUAGES.get(match.group(1), match.group(1))


class Polyglot:
    """Chooses the voice for each language an engine's sessions meet."""

    def __init__(
        self,
        engine: TTSProvider,
        helper: Callable[[TTSProvider], TTSProvider] | None = None,
        voices: Mapping[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.voices = dict(voices or {})
        """The configured voice per language (``--language-voices``), over the automatic one."""
        self._make_helper = helper or _espeak_beside
        self._helper: TTSProvider | None = None
        self._helper_made = False
        self._chosen: dict[str, tuple[TTSProvider, str | None] | None] = {}
        self._speakers: dict[str, TTSProvider | None] = {}

    def plan(
        self,
        text: str,
        voice: str | None,
        chosen: Mapping[str, str] | None = None,
        recent: str | None = None,
        continued: bool = False,
    ) -> Plan:
        """The parts of ``text`` and their voices, for a session whose voice is ``voice``,
        whose own choices per language are ``chosen`` and whose last sentence was ``recent``;
        ``continued``: ``text`` carries on the sentence ``recent`` began."""
        default = voice_language(voice or self.engine.voice)
        wanted = {**self.voices, **(chosen or {})}
        parts: list[Part] = []
        notices: list[str] = []
        for run in self._identified(text, default, recent, continued):
            choice = self._configured(wanted.get(run.language))
            if choice is None and run.language != default and not self.engine.speaks_any_language:
                choice = self._choose(run.language)
                if choice is None:  # the session's voice would spell it: shown, not spoken
                    notices.append(_no_voice(run.language))
                    continue
            engine, picked = choice if choice is not None else (self.engine, voice)
            said = engine.readable(run.text, picked)
            if said != run.text:
                notices.append(_unread(engine, picked, run.language))
            if any(char.isalnum() for char in said):
                parts.append(Part(said, run.language, engine, picked))
        return Plan(_merged(parts), tuple(dict.fromkeys(notices)))

    def _identified(
        self, text: str, default: str, recent: str | None, continued: bool
    ) -> list[Run]:
        """The runs of ``text``; a Latin run in another language with a voice is named so.

        A run too short to tell keeps the language of the sentence before it, when that
        was a Latin-script one ("Merci." after French), else the session's. A run with no
        letters at all ("42.", "2024") is read in the language of the sentence before it,
        whatever its script: a German answer's number is said in German, not in English.
        The rest of a sentence spoken ahead in pieces keeps the language its first piece
        had: a piece is short, and "a brilliant blue." alone is French to the model.
        """
        prior = recent if recent is not None and recent not in SCRIPT_LANGUAGES else default
        found = []
        for run in runs(text, default):
            if not letters(run.text) and recent is not None and self._speakable(recent, default):
                run = Run(run.text, recent)
            elif run.language == default and not self.engine.speaks_any_language:
                language = prior if continued else identify(run.text, prior)
                if language != default and self._choose(language) is not None:
                    run = Run(run.text, language)
            found.append(run)
        return found

    def _speakable(self, language: str, default: str) -> bool:
        """Whether ``language`` has a voice: the session's own, or one chosen for it."""
        return language == default or self._choose(language) is not None

    def catalog(
        self, voice: str | None, chosen: Mapping[str, str] | None = None
    ) -> dict[str, LanguageVoices]:
        """Every language with a voice installed: its voices, and the one that speaks it for a
        session whose voice is ``voice`` and whose own choices are ``chosen``."""
        if self.engine.speaks_any_language:
            return {}  # every voice reads every language: nothing to choose per language
        own = voice or self.engine.voice
        default = voice_language(own)
        wanted = {**self.voices, **(chosen or {})}
        found: dict[str, list[str]] = {}
        for engine in dict.fromkeys([self.engine, self._espeak()]):
            for language, names in (engine.installed_voices() if engine else {}).items():
                found.setdefault(language, []).extend(names)
        catalog: dict[str, LanguageVoices] = {}
        for language, names in sorted(found.items()):
            automatic = own if language == default else _voice_of(self._choose(language))
            used = wanted.get(language) or automatic
            listed = list(dict.fromkeys([*names, *([used] if used else [])]))
            catalog[language] = {"voice": used, "automatic": automatic, "voices": listed}
        return catalog

    def warm(self) -> None:
        """List espeak-ng's voices and load the Latin model now, not in the first answer."""
        helper = self._espeak()
        if helper is not None:
            helper.voices()
        available()

    def knows(self, voice: str) -> bool:
        """Whether the engine, or espeak-ng beside it, has ``voice``."""
        return self._speaker(voice) is not None

    def _configured(self, voice: str | None) -> tuple[TTSProvider, str | None] | None:
        if voice is None:
            return None
        engine = self._speaker(voice)
        return (engine, voice) if engine is not None else None

    def _speaker(self, voice: str) -> TTSProvider | None:
        """The engine that has ``voice``: the session's first, then espeak-ng."""
        if voice not in self._speakers:
            if self.engine.accepts(voice):
                found: TTSProvider | None = self.engine
            else:
                helper = self._espeak()
                found = helper if helper is not None and helper.accepts(voice) else None
            self._speakers[voice] = found
        return self._speakers[voice]

    def _choose(self, language: str) -> tuple[TTSProvider, str | None] | None:
        if language not in self._chosen:
            self._chosen[language] = self._find(language)
        return self._chosen[language]

    def _find(self, language: str) -> tuple[TTSProvider, str | None] | None:
        own = self.engine.language_voice(language)
        if own is not None:
            return self.engine, own
        helper = self._espeak()
        if helper is not None and (theirs := helper.language_voice(language)) is not None:
            return helper, theirs
        return None

    def _espeak(self) -> TTSProvider | None:
        """espeak-ng beside another engine, at its pace; None if it cannot speak here."""
        if not self._helper_made:
            self._helper_made = True
            helper = self._make_helper(self.engine)
            self._helper = helper if helper.problem() is None else None
        return self._helper

    async def aclose(self) -> None:
        """Release the helper engine, if one was made."""
        if self._helper is not None and self._helper is not self.engine:
            await self._helper.aclose()


async def speak(plan: Plan, speed: float) -> AsyncGenerator[bytes, None]:
    """Yield the PCM of every part of ``plan`` in order, each by its own engine and voice,
    with no more than a word's pause where one voice hands over to the next."""
    last = len(plan.parts) - 1
    for index, part in enumerate(plan.parts):
        synthesis = part.engine.synthesize(part.text, voice=part.voice, speed=speed)
        async with aclosing(synthesis) as chunks:  # a stopped answer stops the engine too
            async for pcm in trimmed(chunks, head=index > 0, tail=index < last):
                yield pcm


def _espeak_beside(engine: TTSProvider) -> TTSProvider:
    """espeak-ng at the engine's pace (imported on use, as the registry does)."""
    from server.speech.espeak import EspeakTTS

    if isinstance(engine, EspeakTTS):
        return engine
    return EspeakTTS(speed=engine.speed)


_BOOKS: weakref.WeakKeyDictionary[TTSProvider, Polyglot] = weakref.WeakKeyDictionary()


def polyglot(engine: TTSProvider) -> Polyglot:
    """The shared ``Polyglot`` of ``engine`` (made on first use)."""
    book = _BOOKS.get(engine)
    if book is None:
        book = _BOOKS[engine] = Polyglot(engine)
    return book


def configure(engine: TTSProvider, voices: Mapping[str, str]) -> list[str]:
    """Give ``engine``'s sessions the configured voice per language; returns the unknown ones."""
    book = _BOOKS[engine] = Polyglot(engine)
    unknown = [f"{language}={voice}" for language, voice in voices.items() if not book.knows(voice)]
    book.voices = {lang: voice for lang, voice in voices.items() if book.knows(voice)}
    return unknown


def _voice_of(choice: tuple[TTSProvider, str | None] | None) -> str | None:
    """The voice name of a choice (engine, voice); None when there is none."""
    if choice is None:
        return None
    engine, voice = choice
    return voice if voice is not None else engine.voice


def _merged(parts: list[Part]) -> list[Part]:
    """Neighbouring parts said by the same voice become one synthesis."""
    out: list[Part] = []
    for part in parts:
        last = out[-1] if out else None
        if last is not None and (last.engine, last.voice) == (part.engine, part.voice):
            out[-1] = Part(f"{last.text} {part.text}", last.language, last.engine, last.voice)
        else:
            out.append(part)
    return out


def _no_voice(language: str) -> str:
    return (
        f"No voice for the language {language!r} is installed, so its words are shown but "
        "not spoken. Add a Piper voice for it to the voices directory, or install espeak-ng."
    )


def _unread(engine: TTSProvider, voice: str | None, language: str) -> str:
    return (
        f"{engine.label}'s voice {voice or engine.voice!r} cannot read some {language!r} "
        "characters, so they are shown but not spoken."
    )
