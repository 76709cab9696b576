"""Where a long opening sentence may be cut early, so speech starts before it ends.

An answer that opens with one long sentence and no comma kept the listener
waiting for all of it to arrive and then for the engine to synthesise all of it
in one run (Piper: 267 ms p50 first audio for a 44-character sentence, issue 17).
The splitter instead speaks the opening words on their own, cut at a word
boundary, and the rest of the sentence as the next segment; later sentences are
synthesised while earlier ones play, so only the opening needs this.

The rest of the sentence goes the same way while it is long: each further piece
at least twice as long as the one before (8, 16, 32… characters), because each must
be synthesised while the piece before it plays. With the rest in one piece, Piper
on the loaded 2-core machine delivered it about 105 ms (p50) after the opening
words had finished playing; doubling keeps every piece's synthesis shorter than the
playback of the piece before it while Piper runs faster than about 2.5× real time.

The rule is decided from the text alone (never from how it was chunked): the
fragment is the shortest run of whole words at least ``min_chars`` long, and it
is cut only once the sentence has gone on for ``TAIL`` more characters without
ending, so a short sentence is spoken whole. Only plain words are cut: Markdown,
numbers with punctuation, URLs, line breaks and scripts without spaces keep the
sentence whole, since a cut there could split what ``speakable`` must see at once.
"""

from __future__ import annotations

import re
from typing import Final

TAIL: Final = 12
"""How far a sentence must run on past the cut, unended, before the cut is made."""
_LONGEST_WORD: Final = 32
"""A cut is looked for this far past ``min_chars`` at most: the work per look stays bounded."""
_WORD: Final = r"\w[\w'’-]*"
_PLAIN: Final = re.compile(rf"{_WORD}(?: {_WORD})*")


def fragment_cut(buf: str, lead: int, min_chars: int) -> int | None:
    """End of a fragment of the sentence going on at ``buf[lead]``, if one can be cut there.

    Returns the index of the space after the fragment's last word; the caller cuts
    there only once ``buf`` holds ``TAIL`` more characters with no segment end before.
    """
    start = lead + min_chars
    stop = min(len(buf), start + _LONGEST_WORD)
    space = buf.find(" ", start, stop)
    if space <= lead or space + TAIL > len(buf):
        return None
    return space if _PLAIN.fullmatch(buf, lead, space) else None
