"""The multi-line box where the person types a question."""

from __future__ import annotations

from textual.widgets import TextArea


class PromptBox(TextArea):
    """A TextArea for prompts; Enter adds a line, the Send binding sends."""

    DEFAULT_CSS = """
    PromptBox { height: auto; max-height: 8; min-height: 3; }
    """

    def __init__(self, placeholder: str = "Ask something…") -> None:
        super().__init__(
            id="prompt",
            placeholder=placeholder,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
        )

    def take(self) -> str:
        """Return the prompt without surrounding blank space and empty the box."""
        text = self.text.strip()
        if text:
            self.clear()
        return text
