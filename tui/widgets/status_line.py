"""One line saying how things stand: link, LLM and voice, response state, timings."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

_LINK_STYLES = {
    "connected": "$text-success",
    "connecting": "$text-warning",
    "starting": "$text-warning",
    "reconnecting": "$text-warning",
    "auth refused": "$text-error",
}


class StatusLine(Widget):
    """The status line at the top of the screen."""

    DEFAULT_CSS = """
    StatusLine { height: auto; }
    """

    link: reactive[str] = reactive("connecting", layout=True)
    """connecting, starting, connected, reconnecting or refused."""
    link_detail: reactive[str] = reactive("", layout=True)
    """Words after the link state, e.g. "in 4 s" or the reason of a refusal."""
    llm: reactive[str] = reactive("", layout=True)
    tts: reactive[str] = reactive("", layout=True)
    mode: reactive[str] = reactive("voice", layout=True)
    """voice or text."""
    audio_note: reactive[str] = reactive("", layout=True)
    """Why there is no sound, e.g. "no audio device — text only"."""
    state: reactive[str] = reactive("idle", layout=True)
    """The current response state, as the app names it."""
    first_text_ms: reactive[float | None] = reactive(None, layout=True)
    first_audio_ms: reactive[float | None] = reactive(None, layout=True)
    error: reactive[str] = reactive("", layout=True)
    """The latest error in plain words, cleared by the next prompt."""

    def show_link(self, link: str, detail: str = "", error: str | None = None) -> None:
        """Show the link state (and replace the error line when ``error`` is given)."""
        self.link, self.link_detail = link, detail
        if error is not None:
            self.error = error

    def render(self) -> Content:
        """Build the line from its parts."""
        sep = Content.styled(" │ ", "$text-muted")
        link = f"{self.link} {self.link_detail}".strip()
        parts = [Content.styled(f"● {link}", _LINK_STYLES.get(self.link, ""))]
        if self.llm:
            parts.append(Content.assemble(("LLM ", "$text-muted"), self.llm))
        if self.tts:
            parts.append(Content.assemble(("TTS ", "$text-muted"), self.tts))
        parts.append(Content(self.mode))
        if self.audio_note:
            parts.append(Content.styled(self.audio_note, "$text-warning"))
        parts.append(Content.styled(self.state, "bold"))
        timings = self._timings()
        if timings:
            parts.append(Content.styled(timings, "$text-muted"))
        line = sep.join(parts)
        if self.error:
            line = Content.assemble(line, "\n", Content.styled(f"✗ {self.error}", "$text-error"))
        return line

    def _timings(self) -> str:
        shown = []
        if self.first_text_ms is not None:
            shown.append(f"1st text {self.first_text_ms:.0f} ms")
        if self.first_audio_ms is not None:
            shown.append(f"1st audio {self.first_audio_ms:.0f} ms")
        return " · ".join(shown)
