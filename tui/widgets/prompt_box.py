"""The multi-line box where the person types a question."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
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

    def __init__(self, placeholder: str = "Ask something…") -> None:
        super().__init__(
            id="prompt",
            placeholder=placeholder,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
        )

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
