"""What of a spoken answer was heard, from the playback position when it was stopped.

The WebSocket announces where each sentence's audio starts, so a stopped answer keeps
up to the end of the sentence being spoken. The HTTP stream has no such marks; there
the heard share of the audio keeps the same share of the text, cut at a word.
"""

from __future__ import annotations


def heard_prefix(
    text: str, span: tuple[int, int] | None, heard_ms: float, audio_ms: float
) -> str:
    """The part of ``text`` heard after ``heard_ms`` of ``audio_ms`` of speech."""
    if span is not None:
        return text[: span[1]]
    if audio_ms <= 0:
        return ""
    cut = int(len(text) * min(1.0, heard_ms / audio_ms))
    if 0 < cut < len(text):
        return text[:cut].rsplit(" ", 1)[0].rstrip()
    return text[:cut].rstrip()
