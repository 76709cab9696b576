"""The voices the server offers per language (``session.talkterm.languages``).

Read from the server's own words and checked here, so a wrong entry is left out
rather than shown; the settings screen offers them, the person picks one per language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class LanguageVoices:
    """A language a voice is installed for: the voice speaking it now, and every one for it."""

    code: str
    """The server's code for it (``cmn``, ``en``…), as segments name it."""
    voice: str | None
    """The voice that speaks it now."""
    automatic: str | None
    """The voice the server picks when nobody chooses one."""
    voices: tuple[str, ...]


def read_languages(listed: Any) -> dict[str, LanguageVoices] | None:
    """The server's ``languages`` object as entries by code; None when it did not say."""
    if not isinstance(listed, dict):
        return None
    found = {}
    for code, entry in listed.items():
        if not isinstance(code, str) or not isinstance(entry, dict):
            continue
        voices = entry.get("voices")
        listed_voices = voices if isinstance(voices, list) else []
        names = tuple(voice for voice in listed_voices if _name(voice) is not None)
        voice, automatic = _name(entry.get("voice")), _name(entry.get("automatic"))
        found[code] = LanguageVoices(code, voice, automatic, names)
    return found


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# What a person calls the languages the server names most (espeak-ng / ISO 639 codes).
_LANGUAGE_NAMES = {
    "en": "English", "cmn": "Mandarin", "yue": "Cantonese", "ja": "Japanese",
    "ko": "Korean", "ru": "Russian", "el": "Greek", "ar": "Arabic", "he": "Hebrew",
    "hi": "Hindi", "th": "Thai", "de": "German", "fr": "French", "es": "Spanish",
    "it": "Italian", "pt": "Portuguese", "nl": "Dutch", "pl": "Polish", "tr": "Turkish",
    "uk": "Ukrainian", "vi": "Vietnamese", "sv": "Swedish", "km": "Khmer",
}  # fmt: skip


def language_name(code: str) -> str:
    """A language's name for a person ("cmn" → "Mandarin"); the code if unknown."""
    return _LANGUAGE_NAMES.get(code, code)
