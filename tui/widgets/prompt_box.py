"""The multi-line box where the person types a question."""

from __future__ import annotations

import time

from textual import on
from textual.events import Focus
from textual.timer import Timer
from textual.widgets import TextArea


class PromptBox(TextArea):
    """A TextArea for prompts; Enter adds a line, the Send binding sends."""

    DEFAULT_CSS = """
    PromptBox { height: auto; max-height: 8; min-height: 3; }
    """

    BLINK_FOR_S = 10.0
    """The cursor blinks this long after the last keystroke, then stays lit: blinking
    redraws the screen twice a second, two thirds of what the idle app cost
    (bench/idle_cpu.py). GTK's cursor-blink-timeout does the same, for the same reason."""

    def __init__(self, placeholder: str = "Ask something…") -> None:
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

    def take(self) -> str:
        """Return the prompt without surrounding blank space and empty the box."""
        text = self.text.strip()
        if text:
            self.clear()
        return text

    @on(Focus)
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
