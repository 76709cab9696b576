"""One assistant answer: streamed Markdown, the spoken sentence highlighted, a note.

Text goes to ``Markdown.get_stream`` at most ten times a second: every append
makes Textual lay out the whole screen again, so appending per token (200 a
second) would starve the event loop. A token never re-renders the message.

The sentence being heard is highlighted by restyling only the Markdown block
that shows it; the block's own content is kept and restored when the voice
moves on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownBlock, MarkdownFence, MarkdownStream

from tui.states import MARKS, Mark

HIGHLIGHT = "bold $text-accent on $accent 25%"
FLUSH_EVERY_S = 0.1


class AnswerMarkdown(Markdown):
    """The streamed text of one answer (a CSS hook)."""


class TurnNote(Static):
    """The line under an answer saying it was paused, stopped, failed or interrupted."""


@dataclass
class _Lit:
    block: MarkdownBlock
    original: Content
    lit: Content
    sentence: str


class AssistantTurn(Vertical):
    """One answer: Markdown streamed in, a highlight for the spoken sentence, a note."""

    def __init__(self, text: str = "", mark: Mark | None = None, note: str = "") -> None:
        super().__init__()
        self.text = text
        """The full transcript received so far (segment offsets point into it)."""
        self.mark = mark
        self.note = note
        self._shown = len(text)
        self._holding = False
        self._stream: MarkdownStream | None = None
        self._timer: Timer | None = None
        self._lit: _Lit | None = None

    def compose(self) -> ComposeResult:
        """The Markdown (empty, or a finished answer's text) and the note."""
        yield AnswerMarkdown(self.text or None)
        yield TurnNote(self.note, markup=False)

    def on_mount(self) -> None:
        """Show the mark of a restored turn."""
        self.set_mark(self.mark, self.note)

    @property
    def all_shown(self) -> bool:
        """Whether every character received is on screen."""
        return self._shown == len(self.text)

    def write(self, delta: str) -> None:
        """Append streamed text; it reaches the screen on the next flush."""
        self.text += delta
        if self._timer is None:
            self._timer = self.set_interval(FLUSH_EVERY_S, self._flush)

    async def _flush(self) -> None:
        if self._holding or self.all_shown:
            return
        fragment, self._shown = self.text[self._shown :], len(self.text)
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one(AnswerMarkdown))
        await self._stream.write(fragment)

    def hold(self) -> None:
        """Keep text that arrives from now on off the screen (pause)."""
        self._holding = True

    async def release(self) -> None:
        """Show what was held and stream on (resume)."""
        self._holding = False
        await self._flush()

    async def finish(self) -> None:
        """Show everything and stop streaming; the answer is complete or cut."""
        await self.release()
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()

    async def end(self, mark: Mark | None, note: str) -> None:
        """The answer is over: no highlight, its mark and note, all its text shown."""
        self.clear_highlight()
        self.set_mark(mark, note)
        await self.finish()

    def set_mark(self, mark: Mark | None, note: str = "") -> None:
        """Mark the turn (one of MARKS) with a note, or clear the mark."""
        self.mark, self.note = mark, note
        for name in MARKS:
            self.set_class(name == mark, f"-{name}")
        # A short answer can end before its turn has composed; on_mount shows the note then.
        for shown in self.query(TurnNote):
            shown.update(note)

    # -- the spoken sentence ---------------------------------------------------------

    def highlight(self, char_start: int, char_end: int) -> None:
        """Highlight the transcript text [char_start:char_end] where it is shown."""
        sentence = plain_text(self.text[char_start:char_end])
        lit = self._lit
        if (
            lit is not None
            and lit.sentence == sentence
            and lit.block.is_attached
            and lit.block.content is lit.lit
        ):
            return  # already shown; the common case on every tick
        self.clear_highlight()
        if sentence:
            self._light(sentence)

    def clear_highlight(self) -> None:
        """Remove the highlight, restoring the block as Markdown rendered it."""
        lit, self._lit = self._lit, None
        if lit is not None and lit.block.is_attached and lit.block.content is lit.lit:
            lit.block.update(lit.original)

    @property
    def highlighted(self) -> str | None:
        """The plain text of the highlighted sentence, if any (for tests)."""
        return self._lit.sentence if self._lit is not None else None

    def _light(self, sentence: str) -> None:
        for block in self.query(MarkdownBlock):
            content = block.content
            if isinstance(block, MarkdownFence) or block.children:
                continue
            if not isinstance(content, Content) or not content.plain:
                continue
            span = find_sentence(content.plain, sentence)
            if span is not None:
                lit = content.stylize(HIGHLIGHT, *span)
                block.update(lit)
                self._lit = _Lit(block, content, lit, sentence)
                return


_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"\*+|`+|~~|(?<!\w)_+|_+(?!\w)")
_BLOCK_PREFIX = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+|\d+[.)]\s+|>\s*)", re.MULTILINE)
_SPACE = re.compile(r"\s+")


def plain_text(markdown: str) -> str:
    """Markdown source as the Markdown widget shows it: no markup, single spaces."""
    text = _LINK.sub(r"\1", markdown)
    text = _BLOCK_PREFIX.sub("", text)
    text = _EMPHASIS.sub("", text)
    return _SPACE.sub(" ", text).strip()


def find_sentence(shown: str, sentence: str) -> tuple[int, int] | None:
    """Where ``sentence`` (or, failing that, its longest leading words) appears in ``shown``."""
    words = sentence.split(" ")
    # A sentence that runs over two blocks is found by its start: drop words from its end.
    for count in range(len(words), min(len(words), 3) - 1, -1):
        needle = " ".join(words[:count])
        at = shown.find(needle)
        if at >= 0:
            return at, at + len(needle)
    return None
