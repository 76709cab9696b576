"""Which language a sentence is in, from the scripts it is written in.

A sentence is cut into runs at script boundaries: Han → Mandarin (Japanese when the
sentence has kana), Hangul → Korean, Cyrillic → Russian, and so on. Latin-script
text, and letters of scripts not listed here, stay in the caller's default language
(telling English from Dutch needs statistics, which this module leaves out).
Spaces, digits and punctuation belong to the run they sit in, so "2024 年" is read
in Chinese. Characters no voice can say (symbols such as emoji and box drawing,
control and format characters) are dropped before anything is cut.

Everything is done by compiled regular expressions: linear time, about a
microsecond per character, on any input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# Scripts whose letters decide the language: (language, character ranges).
# Codes are espeak-ng's (ISO 639), so the espeak-ng voice of a language is its code.
_SCRIPTS: Final[dict[str, str]] = {
    "han": "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3100-\u312f\u31a0-\u31bf"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f",
    "ja": "\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f",
    "ko": "\u1100-\u11ff\u3131-\u318e\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uffa0-\uffdc",
    "ru": "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f",
    "el": "\u0370-\u03ff\u1f00-\u1fff",
    "hy": "\u0531-\u058f",
    "he": "\u0591-\u05ff\ufb1d-\ufb4f",
    "ar": "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc",
    "hi": "\u0900-\u097f\ua8e0-\ua8ff",
    "bn": "\u0980-\u09ff",
    "pa": "\u0a00-\u0a7f",
    "gu": "\u0a80-\u0aff",
    "or": "\u0b00-\u0b7f",
    "ta": "\u0b80-\u0bff",
    "te": "\u0c00-\u0c7f",
    "kn": "\u0c80-\u0cff",
    "ml": "\u0d00-\u0d7f",
    "si": "\u0d80-\u0dff",
    "th": "\u0e00-\u0e7f",
    "lo": "\u0e80-\u0eff",
    "my": "\u1000-\u109f",
    "ka": "\u10a0-\u10ff\u2d00-\u2d2f",
    "am": "\u1200-\u139f\u2d80-\u2ddf",
    "km": "\u1780-\u17ff",
}
MANDARIN: Final = "cmn"
JAPANESE: Final = "ja"
SCRIPT_LANGUAGES: Final = frozenset({MANDARIN, *_SCRIPTS} - {"han"})
"""The languages a script alone decides."""
# Anything else that is a letter (Latin first of all): the default language.
_OTHER: Final = "default"

# Latin letters first, matched fast; other unlisted letters need the slower lookahead.
_LATIN: Final = "A-Za-z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_RUN: Final = re.compile(
    rf"(?P<latin>[{_LATIN}]+)|"
    + "|".join(f"(?P<{name}>[{chars}]+)" for name, chars in _SCRIPTS.items())
    + f"|(?P<{_OTHER}>(?:(?![{''.join(_SCRIPTS.values())}])[^\\W\\d_])+)"
)
_KANA: Final = re.compile(f"[{_SCRIPTS['ja']}]")
_HAN: Final = re.compile(f"[{_SCRIPTS['han']}]+")
# What no voice can say: symbols (emoji, dingbats, box drawing, arrows, braille, shapes),
# controls, invisible format characters (joiners, direction marks, BOM), private use.
# Replaced by a space, so words either side stay apart.
_UNSPEAKABLE: Final = re.compile(
    "["
    "\x00-\x08\x0b-\x1f\x7f-\x9f"  # controls (tab and newline are spaces)
    "\u00ad\u034f\u061c\u115f\u1160\u180e"  # soft hyphen, joiners and fillers
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"  # zero width, direction marks
    "\u2190-\u21ff\u2300-\u23ff\u2400-\u24ff\u2500-\u27bf\u2800-\u28ff\u2b00-\u2bff"
    "\ue000-\uf8ff\ufe00-\ufe0f\ufff0-\ufffd"  # private use, variation selectors, specials
    "\U0001f000-\U0001faff\U000e0000-\U000e007f\U000f0000-\U0010ffff"  # emoji, tags
    "\ud800-\udfff"  # lone surrogates
    "]+"
)
# A sentence with more script changes than this is not language but noise (a script
# change at every character): it is said in its main language alone, not as a
# thousand one-letter syntheses.
MAX_RUNS: Final = 16


@dataclass(frozen=True, slots=True)
class Run:
    """Part of a sentence in one language: its text and language code."""

    text: str
    language: str


def speakable_text(text: str) -> str:
    """``text`` without what no voice can say, spaces collapsed."""
    return " ".join(_UNSPEAKABLE.sub(" ", text).split())


def runs(text: str, default: str = "en") -> list[Run]:
    """``text`` cut into runs of one language each; Latin letters are in ``default``."""
    text = speakable_text(text)
    han = JAPANESE if _KANA.search(text) else MANDARIN
    cuts: list[tuple[int, str]] = []  # (start, language) where a new language begins
    for match in _RUN.finditer(text):
        name = match.lastgroup or _OTHER
        language = _language(name, han, default)
        if not cuts or cuts[-1][1] != language:
            cuts.append((match.start(), language))
    if not cuts:
        return [Run(text, default)] if text else []
    if len(cuts) > MAX_RUNS:
        return _main_language(text, default)
    bounds = [0, *(start for start, _ in cuts[1:]), len(text)]
    found = [
        Run(text[a:b].strip(), language)
        for (a, b, (_, language)) in zip(bounds, bounds[1:], cuts, strict=False)
    ]
    return [run for run in found if run.text]


def language_of(text: str, default: str = "en") -> str:
    """The language of most of ``text``'s letters (``default`` when it has none)."""
    counts: dict[str, int] = {}
    for run in runs(text, default):
        counts[run.language] = counts.get(run.language, 0) + letters(run.text)
    return max(counts, key=lambda language: counts[language]) if counts else default


def _main_language(text: str, default: str) -> list[Run]:
    """Noise: keep only the letters of the language that has most of them, one run."""
    han = JAPANESE if _KANA.search(text) else MANDARIN
    kept: dict[str, list[str]] = {}
    for match in _RUN.finditer(text):
        name = match.lastgroup or _OTHER
        language = _language(name, han, default)
        kept.setdefault(language, []).append(match.group())
    language = max(kept, key=lambda name: sum(len(piece) for piece in kept[name]))
    return [Run(" ".join(kept[language]), language)]


def _language(group: str, han: str, default: str) -> str:
    """The language of a run the pattern matched as ``group``."""
    if group == "han":
        return han
    return default if group in ("latin", _OTHER) else group


def without_han(text: str) -> str:
    """``text`` with its Han characters (kanji) left out, spaces collapsed."""
    return " ".join(_HAN.sub(" ", text).split())


def letters(text: str) -> int:
    """How many letters ``text`` has (in any script)."""
    return sum(len(match.group()) for match in _RUN.finditer(text))
