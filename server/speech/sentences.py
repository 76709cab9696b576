"""Cutting streamed LLM text into segments to synthesise one after another.

``SentenceSplitter`` is fed text deltas as they arrive and hands back segments as
soon as their end is certain. The first segment may be an early clause (ending at
``,`` ``;`` or ``:``), or the opening words of a long sentence cut at a word
boundary (``first_fragment``, see ``server.speech.fragment``), so speech starts
sooner; after that, segments are whole sentences, paragraphs, list items and
headings. A fenced code block is one segment. Segments keep the transcript text
verbatim (Markdown included) and tile it exactly: leading whitespace belongs to
the segment it precedes.

A boundary is decided only from text already seen, and only once the next
non-space character has arrived (or at ``flush``). So the segments never depend
on how the stream was chunked.

Work is linear in the input however it arrives: a cut moves an index instead of
copying the buffer, and while an undecided piece is large (a long code block, a
run of spaces) new text is looked at only once it has grown the piece by a
quarter, so one huge delta or a million tiny ones cost the same per character.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

from server.speech import spaceless
from server.speech.fragment import TAIL, fragment_cut

_TERMINAL: Final = ".!?…" + spaceless.FULL_STOPS + spaceless.SPACED_STOPS
_CJK_TERMINAL: Final = spaceless.FULL_STOPS  # CJK text puts no space after a sentence
_STRONG: Final = "!?！？"
_CLAUSE: Final = ",;:" + spaceless.CLAUSES
# Quotes, brackets and emphasis markers that close a sentence after its punctuation.
_CLOSERS: Final = "\"'”’)]}»*_`" + spaceless.CLOSERS
_OPENERS: Final = "\"'“‘([{«*_`"
_CANDIDATE: Final = re.compile(
    f"[{re.escape(_TERMINAL + _CLAUSE)}\n]|{spaceless.PHRASE_SPACE}"
)
_NON_SPACE: Final = re.compile(r"\S")
_RUN: Final = {"`": re.compile("`+"), "~": re.compile("~+")}
_DOTTED: Final = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # U.S, e.g, i.e, p.m
# Abbreviations that a period never ends a sentence after (they precede a name or example).
_NEVER_END: Final = frozenset(
    {
        "mr", "mrs", "ms", "mx", "dr", "prof", "st", "sr", "jr", "rev", "hon", "gen", "capt",
        "lt", "col", "sgt", "vs", "v", "cf", "viz", "approx", "fig", "figs", "eq", "vol", "mt",
    }
)  # fmt: skip
_NUMBER_WORDS: Final = frozenset({"no", "nos", "nr"})  # "No. 5"
# Where a long run without spaces may be cut: after CJK commas and colons.
_CJK_SOFT: Final = spaceless.SOFT
# Below this many undecided characters every delta is looked at at once (prose
# segments stay near max_chars); above it, only after the piece grew by a quarter.
_EAGER: Final = 65_536


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of the transcript: ``transcript[start:end] == text``."""

    text: str
    start: int
    end: int
    continues: bool = False
    """A piece of a long opening sentence that goes on in the next segment (no pause after it)."""
    continued: bool = False
    """The segment carries on the sentence the segment before it began (no pause before it)."""


class _Wait:
    """More text is needed before a candidate can be judged."""


class _No:
    """The candidate does not end a segment."""


_WAIT: Final = _Wait()
_NO: Final = _No()
_Verdict = int | _Wait | _No


class SentenceSplitter:
    """Incremental splitter: ``feed`` text deltas, then ``flush`` at the end of the stream."""

    def __init__(
        self, *, first_clause_min: int = 10, first_fragment: int = 0, max_chars: int = 400
    ) -> None:
        if first_clause_min < 1 or first_fragment < 0 or max_chars < 2:
            raise ValueError("first_clause_min must be >= 1, first_fragment >= 0, max_chars >= 2")
        self._first_clause_min = first_clause_min
        self._first_fragment = first_fragment  # 0: an opening sentence is never cut early
        self._max_chars = max_chars
        self._buf = ""
        self._start = 0  # _buf[:_start] was handed out already
        self._pending: list[str] = []  # deltas not yet joined into _buf
        self._pending_len = 0
        self._offset = 0  # transcript offset of _buf[_start]
        self._resume = 0  # candidates before this index are already known not to end a segment
        self._emitted = False
        self._cut = -1  # where the fragment being handed out ends in _buf
        self._fragments = 0  # fragments of the opening sentence cut so far
        self._continued = False  # the next segment carries on the sentence of a fragment

    def feed(self, delta: str) -> list[Segment]:
        """Add a text delta; return the segments whose end is now certain."""
        self._pending.append(delta)
        self._pending_len += len(delta)
        undecided = len(self._buf) - self._start
        if undecided > _EAGER and self._pending_len * 4 < undecided:
            return []  # joining and rescanning a huge piece per delta would be quadratic
        return self._drain(final=False)

    def flush(self) -> list[Segment]:
        """End of stream: return the remaining segments, the last one taking the tail."""
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> list[Segment]:
        self._compact()
        segments = []
        while self._start < len(self._buf):
            end = self._next_end(final)
            if end is None:
                break
            assert self._start < end <= len(self._buf)
            text = self._buf[self._start : end]
            continues, self._cut = end == self._cut, -1
            segments.append(
                Segment(text, self._offset, self._offset + len(text), continues, self._continued)
            )
            self._continued = continues
            self._start = end
            self._offset += len(text)
            self._resume = end
            self._emitted = True
        return segments

    def _compact(self) -> None:
        """Drop what was handed out and join the pending deltas: one copy per drain."""
        self._buf = self._buf[self._start :] + "".join(self._pending)
        self._resume = max(0, self._resume - self._start)
        self._start = 0
        self._pending.clear()
        self._pending_len = 0

    def _next_end(self, final: bool) -> int | None:
        buf = self._buf
        found = _NON_SPACE.search(buf, self._start)
        if found is None:
            return len(buf) if final else None
        lead = found.start()
        fence = self._fence_opening(buf, lead, final)
        if fence is _WAIT:
            return None
        if isinstance(fence, str):
            return self._fence_end(buf, lead, fence, final)
        return self._sentence_end(buf, lead, final)

    def _line_start(self, buf: str, index: int) -> bool:
        """Whether only spaces or tabs lie between ``index`` and the start of its line."""
        while index > self._start and buf[index - 1] in " \t":
            index -= 1
        return buf[index - 1] == "\n" if index > self._start else self._offset == 0

    # -- fenced code blocks --------------------------------------------------------------

    def _fence_opening(self, buf: str, lead: int, final: bool) -> str | _Wait | None:
        """The opening fence (e.g. "```") if the segment starts with one."""
        if buf[lead] not in "`~" or not self._line_start(buf, lead):
            return None
        run = _run_length(buf, lead)
        if run < 3:
            return _WAIT if lead + run == len(buf) and not final else None
        if buf[lead] == "`":
            # CommonMark: a backtick fence's info string holds no backtick (```a`b is prose).
            line_end = buf.find("\n", lead + run)
            if "`" in buf[lead + run : len(buf) if line_end == -1 else line_end]:
                return None
        return buf[lead] * run

    def _fence_end(self, buf: str, lead: int, fence: str, final: bool) -> int | None:
        newline = buf.find("\n", lead)
        if newline == -1:
            return len(buf) if final else None
        closing = _closing_fence(fence)
        newline = max(newline, self._resume)
        while True:
            line_end = buf.find("\n", newline + 1)
            if line_end == -1 and not final:
                self._resume = newline  # the line after it is still arriving
                return None
            line = buf[newline + 1 : len(buf) if line_end == -1 else line_end]
            if closing.fullmatch(line):
                self._resume = newline
                return _confirmed(buf, newline + 1 + len(line.rstrip()), final)
            if line_end == -1:
                return len(buf)  # an unclosed block runs to the end of the stream
            newline = line_end

    # -- prose ---------------------------------------------------------------------------

    def _limit(self, buf: str, lead: int) -> int:
        """Where the piece at ``lead`` must end at the latest (sooner in spaceless scripts)."""
        if spaceless.starts_spaceless(buf, lead):
            return lead + max(2, self._max_chars // spaceless.BOUND_SHARE)
        return lead + self._max_chars

    def _sentence_end(self, buf: str, lead: int, final: bool) -> int | None:
        limit = self._limit(buf, lead)
        fragment = self._fragment(buf, lead)
        if fragment is not None and fragment + TAIL <= limit:
            limit = fragment + TAIL  # no segment end before this: the fragment goes out
        else:
            fragment = None
        # endpos: without it every cut of a long run rescans the whole rest of the buffer.
        for match in _CANDIDATE.finditer(buf, max(self._resume, lead), limit + 1):
            if match.start() >= limit and fragment is not None:
                return self._cut_fragment(fragment)
            if match.start() >= limit:
                return self._word_cut(buf, lead, limit, final)
            verdict = self._judge(buf, match.start(), lead, final)
            if verdict is _WAIT:
                self._resume = match.start()
                return None
            if isinstance(verdict, int):
                return verdict
        if fragment is not None:
            return self._cut_fragment(fragment)  # fragment_cut saw the text up to the limit
        if len(buf) > limit:
            return self._word_cut(buf, lead, limit, final)
        self._resume = len(buf)
        return len(buf) if final else None

    def _cut_fragment(self, end: int) -> int:
        self._cut = end
        self._fragments += 1
        return end

    def _fragment(self, buf: str, lead: int) -> int | None:
        """Where the answer's opening sentence may be cut early, if it is long enough."""
        if not self._first_fragment or (self._emitted and not self._continued):
            return None
        # Each piece twice as long as the one before: see server.speech.fragment.
        return fragment_cut(buf, lead, self._first_fragment << self._fragments)

    def _judge(self, buf: str, pos: int, lead: int, final: bool) -> _Verdict:
        char = buf[pos]
        if char == "\n":
            return self._judge_newline(buf, pos, lead, final)
        if char == " ":
            return self._judge_phrase(buf, pos, lead, final)
        if char in _CLAUSE:
            return self._judge_clause(buf, pos, lead, final)
        return self._judge_terminal(buf, pos, final)

    def _judge_terminal(self, buf: str, pos: int, final: bool) -> _Verdict:
        if pos > self._start and buf[pos - 1] in _TERMINAL:
            return _NO  # judged with the start of its run, as in "?!" or "..."
        end = _skip(buf, _skip(buf, pos, _TERMINAL), _CLOSERS)
        if end == len(buf):
            return _NO if final else _WAIT
        punct = buf[pos : _skip(buf, pos, _TERMINAL)]
        cjk = any(ch in _CJK_TERMINAL for ch in punct)
        if not cjk and not buf[end].isspace():
            return _NO  # 3.14, e.g.x, config.toml, https://a.b?c=d
        if cjk and buf[end - 1] in spaceless.CLOSERS and buf[end].isalpha():
            return _NO  # 「こんにちは。」と彼は言った: the quote goes on as part of the sentence
        following = _NON_SPACE.search(buf, end)
        if following is None:
            return _NO if final else _WAIT
        if "…" in punct or ".." in punct:
            return _NO  # an ellipsis is a pause inside a thought
        if punct == "." and spaceless.month_arriving(buf, pos, following.start(), final):
            return _WAIT  # "am 3. M…": is it "Mai"?
        if punct == "." and not self._period_ends(buf, pos, following.start()):
            return _NO
        if buf[following.start()].islower():
            return _NO  # an unknown abbreviation, or a quote such as "Why?" she asked
        return end

    def _period_ends(self, buf: str, pos: int, following: int) -> bool:
        """Whether a single period at ``pos`` can end a sentence, judged by the word before it."""
        start = pos
        while start > self._start and not buf[start - 1].isspace():
            start -= 1
        word = buf[start:pos].lstrip(_OPENERS)
        if word.lower() in _NEVER_END or _DOTTED.fullmatch(word):
            return False
        if len(word) == 1 and word.isupper():
            return False  # an initial, as in J. R. R. Tolkien
        if word.isdigit() and self._line_start(buf, start):
            return False  # a numbered list marker, "1. First"
        if word.lower() in _NUMBER_WORDS and buf[following].isdigit():
            return False
        return not spaceless.day_of_month(word, buf, following)

    def _judge_phrase(self, buf: str, pos: int, lead: int, final: bool) -> _Verdict:
        """A space after Thai or Lao: a phrase end, once the piece is long enough."""
        if pos - lead < spaceless.PHRASE_MIN:
            return _NO
        following = _NON_SPACE.search(buf, pos)
        if following is None:
            return _NO if final else _WAIT
        # "ราคา 100 บาท": a number or a foreign word after the space goes on with the phrase.
        return pos if spaceless.phrase_letter(buf[following.start()]) else _NO

    def _judge_clause(self, buf: str, pos: int, lead: int, final: bool) -> _Verdict:
        if self._emitted:
            return _NO  # only the first segment is cut early
        if pos + 1 == len(buf):
            return _NO if final else _WAIT
        spaced = buf[pos] not in spaceless.CLAUSES  # "你好，世界" has no space after its comma
        if (spaced and not buf[pos + 1].isspace()) or pos + 1 - lead < self._first_clause_min:
            return _NO  # 1,000 or 10:30, or a clause too short to be worth its own request
        end = _confirmed(buf, pos + 1, final)
        return _WAIT if end is None else end

    def _judge_newline(self, buf: str, pos: int, lead: int, final: bool) -> _Verdict:
        end = pos
        while buf[end - 1].isspace():
            end -= 1  # stops at lead at the latest, which is not a space
        following = _NON_SPACE.search(buf, pos + 1)
        if following is None:
            return _NO if final else _WAIT
        if "\n" in buf[pos + 1 : following.start()]:
            return end  # a blank line: end of paragraph
        marker = _block_marker(buf, following.start(), final)
        if marker is None:
            return _WAIT
        if marker:
            return end  # the next line is a list item, heading, quote, table row or fence
        line_start = max(buf.rfind("\n", self._start, pos) + 1, self._start)
        line = buf[line_start:end].lstrip()
        if line and self._line_start(buf, line_start) and _block_marker(line, 0, final=True):
            return end  # this line was a list item, heading, quote or table row
        last = _skip_back(buf, end, lead, _CLOSERS)
        if buf[last - 1] in _TERMINAL or buf[last - 1] == ":":
            return end
        return _NO  # a soft line wrap inside a paragraph

    def _word_cut(self, buf: str, lead: int, limit: int, final: bool) -> int | None:
        """Cut an overlong run at the last word boundary (or CJK comma) before ``limit``."""
        for cut in range(limit, lead, -1):
            if buf[cut].isspace() and not buf[cut - 1].isspace():
                return _confirmed(buf, cut, final)
            if buf[cut - 1] in _CJK_SOFT and not buf[cut].isspace():
                return cut  # Chinese and Japanese put no space between words
        return spaceless.hard_cut(buf, lead, limit)  # one enormous word: cut it anyway


def _confirmed(buf: str, end: int, final: bool) -> int | None:
    """``end`` once a non-space character follows it; at the end of the stream, the tail."""
    if _NON_SPACE.search(buf, end):
        return end
    return len(buf) if final else None


def _run_length(buf: str, start: int) -> int:
    run = _RUN[buf[start]].match(buf, start)  # a C loop: the run may be megabytes of backticks
    return run.end() - start if run else 0


def _skip(buf: str, index: int, chars: str) -> int:
    while index < len(buf) and buf[index] in chars:
        index += 1
    return index


def _skip_back(buf: str, index: int, floor: int, chars: str) -> int:
    while index > floor + 1 and buf[index - 1] in chars:
        index -= 1
    return index


@functools.lru_cache(maxsize=16)
def _closing_fence(fence: str) -> re.Pattern[str]:
    return re.compile(rf"[^\S\n]*{re.escape(fence[0])}{{{len(fence)},}}[^\S\n]*")


def _block_marker(text: str, index: int, final: bool) -> bool | None:
    """Whether a line starting at ``index`` opens a block; None if more text is needed."""
    char = text[index]
    if char in "#>|":
        return True
    if char in "-*+":
        if index + 1 == len(text):
            return False if final else None
        return text[index + 1] in " \t" or text[index + 1] == char
    if char in "`~":
        run = _run_length(text, index)
        if run >= 3:
            return True
        return None if index + run == len(text) and not final else False
    if char.isdigit():
        end = _skip(text, index, "0123456789")
        if end - index > 9:
            return False
        if end + 1 >= len(text):
            return False if final else None
        return text[end] in ".)" and text[end + 1] in " \t"
    return False
