"""What an empty transcript says to a newcomer: how to ask, the keys, where answers come from."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from tui.keys import shown_keys

# How a key the footer shows as a symbol is named in a sentence.
_SPOKEN = {"⏎": "Enter", "esc": "Esc"}


class Greeting(Widget):
    """Shown while the transcript is empty; gone once the person asks."""

    DEFAULT_CSS = """
    Greeting { height: auto; padding: 1 2; color: $text-muted; }
    """

    # layout=True: the source line wraps differently once known, so the height must follow.
    llm: reactive[str] = reactive("", layout=True)
    """The server's LLM label ("" until a session has started)."""
    tts: reactive[str] = reactive("", layout=True)
    demo: reactive[bool] = reactive(False, layout=True)
    silent: reactive[bool] = reactive(False, layout=True)
    """No audio output device opened: answers are shown, not spoken."""

    def about(self, llm: str, tts: str, demo: bool) -> None:
        """Say where the answers come from (once the server has told)."""
        self.llm, self.tts, self.demo = llm, tts, demo

    def render(self) -> Content:
        """Three short paragraphs: what to do, the keys, the LLM and the voice."""
        keys = shown_keys(self.app)

        def named(action: str, default: str) -> str:
            shown = keys.get(action, default)
            return _SPOKEN.get(shown, shown)

        how = Content.assemble(
            "Type a question and press ", (named("start", "Enter"), "bold $text"), " to send it."
        )
        keys_line = " · ".join(
            [
                f"{named('newline', 'ctrl+j')} adds a line",
                f"{named('stop_escape', 'Esc')} stops an answer",
                f"{named('pause_resume', 'f5')} pauses and resumes",
                f"{named('command_palette', '^p')} lists every command",
            ]
        )
        return Content("\n\n").join([how, Content(keys_line), self._source()])

    def _source(self) -> Content:
        if not self.llm:
            return Content("Connecting to the server…")
        if self.demo:
            return Content.assemble(
                ("demo responder", "$text-warning"),
                " — no LLM is configured: set OPENAI_API_KEY or start Ollama, then restart.",
            )
        if not self.tts or self.tts == "none":
            return Content(f"Answers come from {self.llm} (text only).")
        if self.silent:
            # Said here too, not only in the status line: a newcomer would wait for a voice.
            return Content(
                f"Answers come from {self.llm}. No audio output device was found, so they "
                "are shown as text (talkterm --list-devices lists the devices)."
            )
        return Content(f"Answers come from {self.llm}, spoken by {self.tts}.")
