"""The multi-line box where the person types a question."""

from __future__ import annotations

import time
from typing import ClassVar

from textual import events, on
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import TextArea


class PromptBox(TextArea):
    """A TextArea for prompts: Enter is left to the app's Send key; ctrl+j adds a line.

    A paste arrives as one ``Paste`` event (bracketed paste), never as keys, so its
    new lines are inserted as text and never send the prompt early.
    """

    DEFAULT_CSS = """
    PromptBox { height: auto; max-height: 8; min-height: 3; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # alt+enter and shift+enter arrive as such only where the terminal reports them
        # (the kitty keyboard protocol); ctrl+j works everywhere.
        Binding(
            "ctrl+j,alt+enter,shift+enter",
            "newline",
            "New line",
            show=False,
            id="newline",
            tooltip="Add a line to the prompt",
        ),
    ]

    BLINK_FOR_S = 10.0
    """The cursor blinks this long after the last keystroke, then stays lit: blinking
    redraws the screen twice a second, two thirds of what the idle app cost
    (bench/idle_cpu.py). GTK's cursor-blink-timeout does the same, for the same reason."""

    PLACEHOLDER = "Ask something…"

    def __init__(self, placeholder: str = PLACEHOLDER) -> None:
        super().__init__(
            id="prompt",
            placeholder=placeholder,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
        )
        self._active_at = time.monotonic()
        self._calm: Timer | None = None
        self._calmed = False

    async def _on_key(self, event: events.Key) -> None:
        # Textual calls TextArea's own handler after this one, unless the default is
        # prevented. Enter is not typed while a binding wants it (Send, unless the keymap
        # moved it): it bubbles up to that binding.
        if event.key == "enter" and "enter" in self.screen.active_bindings:
            event.prevent_default()

    def action_newline(self) -> None:
        """Add a line where the cursor is."""
        self.replace("\n", *self.selection, maintain_selection_offset=False)

    def take(self) -> str:
        """Return the prompt without surrounding blank space and empty the box."""
        text = self.text.strip()
        if text:
            self.clear()
        return text

    @on(events.Focus)
    @on(TextArea.SelectionChanged)
    def _stir(self) -> None:
        """Someone is typing or moving the cursor: blink (if it did) until they stop."""
        self._active_at = time.monotonic()
        if self._calmed:
            self._calmed, self.cursor_blink = False, True
        if self._calm is None:
            self._calm = self.set_timer(self.BLINK_FOR_S, self._settle_cursor)

    def _settle_cursor(self) -> None:
        quiet_for = time.monotonic() - self._active_at
        if quiet_for < self.BLINK_FOR_S:
            self._calm = self.set_timer(self.BLINK_FOR_S - quiet_for, self._settle_cursor)
            return
        self._calm = None
        if self.cursor_blink:
            self._calmed, self.cursor_blink = True, False
