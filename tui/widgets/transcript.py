"""The conversation: user prompts and assistant answers, newest at the bottom.

Only the newest ``LIVE_TURNS`` turns are widgets. Textual lays out every
widget of the screen whenever the streaming answer grows, so hundreds of old
turns would stall the event loop (and, through it, keys and audio). Older
turns are kept as records and mounted again, a page at a time, when the
person scrolls to the top.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from tui.states import Mark
from tui.widgets.assistant_turn import AssistantTurn
from tui.widgets.greeting import Greeting

LIVE_TURNS = 24
PAGE = 12


class UserTurn(Static):
    """One prompt the person sent."""

    def __init__(self, prompt: str) -> None:
        super().__init__(prompt, markup=False)
        self.prompt = prompt


class OlderTurns(Static):
    """The line at the top saying how many earlier turns are folded away."""


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """A turn kept as data while it is not on screen."""

    role: str
    text: str
    mark: Mark | None = None
    note: str = ""

    def widget(self) -> Widget:
        """A widget showing this turn."""
        if self.role == "user":
            return UserTurn(self.text)
        return AssistantTurn(self.text, self.mark, self.note)


def record_of(turn: Widget) -> TurnRecord:
    """The record of a turn widget."""
    if isinstance(turn, AssistantTurn):
        return TurnRecord("assistant", turn.text, turn.mark, turn.note)
    assert isinstance(turn, UserTurn)
    return TurnRecord("user", turn.prompt)


class TranscriptView(VerticalScroll, can_focus=False):
    """All turns of the conversation, kept scrolled to the newest."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.older: list[TurnRecord] = []
        """Turns not mounted, oldest first."""
        self._unfolding = False

    def compose(self) -> ComposeResult:
        """The greeting (while empty) and the fold line; turns are mounted after them."""
        yield Greeting()
        yield OlderTurns()

    def on_mount(self) -> None:
        """Stay at the bottom while answers stream in, until the person scrolls up."""
        self.anchor()
        self._show_fold()

    @property
    def turns(self) -> list[Widget]:
        """The mounted turn widgets, oldest first."""
        return [child for child in self.children if isinstance(child, UserTurn | AssistantTurn)]

    async def add_user(self, text: str) -> UserTurn:
        """Append a prompt."""
        turn = UserTurn(text)
        await self.mount(turn)
        await self._fold()
        return turn

    async def add_assistant(self) -> AssistantTurn:
        """Append an empty answer to stream into."""
        turn = AssistantTurn()
        await self.mount(turn)
        await self._fold()
        return turn

    async def load(self, records: list[TurnRecord]) -> None:
        """Show a conversation: the newest turns as widgets, the rest folded."""
        self.older.extend(records[:-LIVE_TURNS])
        await self.mount_all([record.widget() for record in records[-LIVE_TURNS:]])
        await self._fold()

    async def replace(self, records: list[TurnRecord]) -> None:
        """Show another conversation instead of this one."""
        self.older.clear()
        await self.remove_children(self.turns)
        await self.load(records)

    async def _fold(self) -> None:
        """Turn the oldest widgets back into records, keeping LIVE_TURNS mounted."""
        turns = self.turns
        excess = turns[: max(0, len(turns) - LIVE_TURNS)]
        if excess:
            self.older.extend(record_of(turn) for turn in excess)
            await self.remove_children(excess)
        self._show_fold()

    async def unfold(self) -> None:
        """Mount the previous page of folded turns above the oldest one shown."""
        if not self.older or self._unfolding:
            return
        self._unfolding = True
        try:
            page, self.older[-PAGE:] = self.older[-PAGE:], []
            widgets = [record.widget() for record in page]
            await self.mount_all(widgets, after=self.query_one(OlderTurns))
            self._show_fold()
            # Keep the turn the person was looking at where it was.
            self.call_after_refresh(
                lambda: self.scroll_to(y=sum(w.outer_size.height for w in widgets), animate=False)
            )
        finally:
            self._unfolding = False

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """At the very top, bring back a page of older turns."""
        super().watch_scroll_y(old_value, new_value)
        if new_value <= 0 < old_value and self.older:
            self.call_later(self.unfold)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        """Scrolling up at the top (or with nothing to scroll) unfolds older turns."""
        if self.scroll_y <= 0 and self.older:
            self.call_later(self.unfold)

    @property
    def greeting(self) -> Greeting:
        """What the transcript says while it is empty."""
        return self.query_one(Greeting)

    def _show_fold(self) -> None:
        self.greeting.display = not self.older and not self.turns
        fold = self.query_one(OlderTurns)
        fold.display = bool(self.older)
        fold.update(f"↑ {len(self.older)} earlier turns — scroll up to show them")
