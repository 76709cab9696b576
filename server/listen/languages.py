"""The languages a transcription may be asked for: Whisper's, by ISO 639-1 code.

OpenAI's transcription API, speaches, whisper.cpp's server and faster-whisper all take
these codes (Whisper's tokenizer lists them; ``haw`` and ``yue`` have no two-letter
code). They are written out here because faster-whisper is optional, and a code none
of them knows is better refused when the client sets it than failing every turn.
"""

from __future__ import annotations

from typing import Final

_CODES: Final = """
    af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu
    ha haw he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml
    mn mr ms mt my ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw
    ta te tg th tk tl tr tt uk ur uz vi yi yo yue zh
"""
WHISPER_LANGUAGES: Final = frozenset(_CODES.split())


def language_problem(code: str) -> str | None:
    """Why ``code`` is no language a recognizer takes, or None."""
    if code in WHISPER_LANGUAGES:
        return None
    if code.lower() in WHISPER_LANGUAGES:
        return f"language codes are lower case: {code.lower()!r}, not {code!r}."
    return (
        f"{code!r} is not a language code a recognizer knows; use ISO 639-1, "
        "such as 'en', 'de', 'fr' or 'zh'."
    )
