"""Copy to the clipboard: the selected text, the last answer, or the last code block.

Textual's ``copy_to_clipboard`` writes OSC 52, which the terminal turns into a clipboard
write: it works over SSH, and in tmux with ``set-clipboard on``.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from textual.app import App

from tui.widgets.assistant_turn import AssistantTurn
from tui.widgets.transcript import TranscriptView


def code_blocks(markdown: str) -> list[str]:
    """The code blocks (fenced or indented) of a Markdown text, in order."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [token.content for token in tokens if token.type in ("fence", "code_block")]


class CopyActions(App[None]):
    """Copy keys and palette commands."""

    def answers(self) -> list[str]:
        """The text of every answer on screen that has any, oldest first."""
        turns = self.query_one(TranscriptView).query(AssistantTurn)
        return [turn.text for turn in turns if turn.text.strip()]

    def action_copy_answer(self) -> None:
        """Copy the text selected with the mouse, else the last answer (as Markdown)."""
        if selected := self.screen.get_selected_text():
            self._copy(selected, "the selection")
        elif answers := self.answers():
            self._copy(answers[-1], "the last answer")
        else:
            self.notify("Nothing to copy yet.", title="Copy", severity="warning", timeout=3)

    def action_copy_code(self) -> None:
        """Copy the last code block of the answers (the newest answer that has one)."""
        for answer in reversed(self.answers()):
            if blocks := code_blocks(answer):
                self._copy(blocks[-1], "the last code block")
                return
        self.notify("No answer has a code block yet.", title="Copy", severity="warning")

    def _copy(self, text: str, what: str) -> None:
        self.copy_to_clipboard(text)
        lines = text.count("\n") + (not text.endswith("\n"))
        self.notify(f"Copied {what} ({lines} line{'s' * (lines != 1)}).", title="Copy", timeout=3)
