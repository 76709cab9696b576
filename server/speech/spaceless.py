"""Sentence cutting for scripts that put no space between words, or have their own full stops.

Chinese and Japanese end a sentence with 。！？ and no space after it, and pause at ，、；：.
Thai and Lao have no sentence punctuation at all: a space between two words of theirs ends a
phrase or a sentence, so a piece is cut at such a space once it is long enough to be worth
its own synthesis. Khmer and Burmese have full stops of their own (។ ။), Hindi its danda (।),
Urdu, Armenian and Amharic theirs. A piece that starts in one of the spaceless scripts is
bounded at a quarter of the usual length: 100 Han characters are about as long to say as
400 Latin letters (Mandarin ≈ 4–5 characters a second, English ≈ 15 letters).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

FULL_STOPS: Final = "。！？។။"
"""Sentence ends that need no space after them."""
SPACED_STOPS: Final = "।॥۔؟։።"
"""Sentence ends of other scripts that, like the period, come before a space."""
CLAUSES: Final = "，、；："
"""Where an opening CJK sentence may be cut early (no space after them)."""
CLOSERS: Final = "」』）】〕〉》"
"""Brackets and quotes that close a CJK sentence after its full stop."""
SOFT: Final = "，、；：）」』"
"""Where an overlong run without spaces may be cut."""
PHRASE_MIN: Final = 24
"""Fewest characters of a Thai or Lao piece before a space may end it (about a second)."""
BOUND_SHARE: Final = 4
"""A piece in a spaceless script is at most ``max_chars // BOUND_SHARE`` characters."""

_PHRASED: Final = "\u0e00-\u0e7f\u0e80-\u0eff"  # Thai, Lao: a space ends a phrase
_SPACELESS: Final = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u1780-\u17ff\u1000-\u109f"
    f"{_PHRASED}]"
)
PHRASE_SPACE: Final = rf"(?<=[{_PHRASED}]) "
"""A pattern for a space after a Thai or Lao letter (a candidate phrase end)."""
_PHRASE_LETTER: Final = re.compile(f"[{_PHRASED}]")
_LETTER: Final = re.compile(r"[^\W\d_]")
_LOOK: Final = 8  # how far past the lead a piece's first letter is looked for (markup, quotes)


def starts_spaceless(buf: str, lead: int) -> bool:
    """Whether the piece starting at ``buf[lead]`` is written in a script without spaces."""
    letter = _LETTER.search(buf, lead, lead + _LOOK)
    return letter is not None and _SPACELESS.match(letter.group()) is not None


def phrase_letter(char: str) -> bool:
    """Whether ``char`` is a Thai or Lao letter (a phrase goes on after a space before it)."""
    return _PHRASE_LETTER.match(char) is not None


# "am 3. Mai": German, the Scandinavian languages and others write the day of the month
# as an ordinal with a period. Followed by a month's name the period ends no sentence.
_MONTHS: Final = frozenset(
    {
        "januar", "jänner", "februar", "märz", "april", "mai", "juni", "juli", "august",
        "september", "oktober", "november", "dezember", "januari", "februari", "mars", "maj",
        "augusti", "desember", "december",
    }
)  # fmt: skip
_LONGEST_MONTH: Final = 10
_WORD: Final = re.compile(r"\w+")


def day_of_month(word: str, buf: str, following: int) -> bool:
    """Whether ``word`` + "." is a day of the month before its month's name ("3. Mai")."""
    if not (word.isdigit() and len(word) <= 2):
        return False
    name = _WORD.match(buf, following, following + _LONGEST_MONTH + 1)
    return name is not None and name.group().lower() in _MONTHS


def month_arriving(buf: str, pos: int, following: int, final: bool) -> bool:
    """Whether a period after a number is followed by a word still arriving that may be a
    month's name ("3. M…"): the period is judged once that word is whole."""
    if final or pos == 0 or not buf[pos - 1].isdigit():
        return False
    name = _WORD.match(buf, following, following + _LONGEST_MONTH + 1)
    return name is not None and name.end() == len(buf) and len(name.group()) <= _LONGEST_MONTH


def hard_cut(buf: str, lead: int, limit: int) -> int:
    """``limit``, moved back so a cut never parts a character from its combining marks."""
    for cut in range(limit, max(lead, limit - 32), -1):
        if not _clings(buf[cut - 1], buf[cut]):
            return cut
    return limit  # a pathological pile of marks: cut anyway


def _clings(before: str, after: str) -> bool:
    """Whether ``after`` belongs to the character before it (mark, joiner, surrogate half)."""
    if unicodedata.combining(after) or unicodedata.category(after) in ("Mn", "Me", "Mc"):
        return True
    if after in "\u200d\ufe0e\ufe0f" or before == "\u200d":
        return True
    return "\udc00" <= after <= "\udfff" and "\ud800" <= before <= "\udbff"
