"""One line saying how things stand: link, LLM and voice, response state, timings."""

from __future__ import annotations

import time

from textual.content import Content
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget

from tui.answer import ResponseState
from tui.link import LinkState

_LINK_STYLES = {
    LinkState.CONNECTED: "$text-success",
    LinkState.CONNECTING: "$text-warning",
    LinkState.STARTING: "$text-warning",
    LinkState.RECONNECTING: "$text-warning",
    LinkState.REFUSED: "$text-error",
}
# A refused token is final; the person needs to know it was the token, not the network.
_LINK_LABELS = {LinkState.REFUSED: "auth refused"}


class StatusLine(Widget):
    """The status line at the top of the screen."""

    DEFAULT_CSS = """
    StatusLine { height: auto; }
    """

    link: reactive[LinkState] = reactive(LinkState.CONNECTING, layout=True)
    link_detail: reactive[str] = reactive("", layout=True)
    """Words after the link state, e.g. "in 4 s" or the reason of a refusal."""
    llm: reactive[str] = reactive("", layout=True)
    tts: reactive[str] = reactive("", layout=True)
    mode: reactive[str] = reactive("voice", layout=True)
    """voice or text."""
    audio_note: reactive[str] = reactive("", layout=True)
    """Why there is no sound, e.g. "no audio device — text only"."""
    state: reactive[ResponseState] = reactive(ResponseState.IDLE, layout=True)
    """The current response state (bound to the app's)."""
    first_text_ms: reactive[float | None] = reactive(None, layout=True)
    first_audio_ms: reactive[float | None] = reactive(None, layout=True)
    error: reactive[str] = reactive("", layout=True)
    """The latest error in plain words, cleared by the next prompt."""

    def __init__(self, *, timed: bool = True) -> None:
        super().__init__()
        self.timed = timed
        """Whether to show time to first text and audio (screenshots leave it out)."""
        self._retry_at: float | None = None
        self._counter: Timer | None = None

    def on_mount(self) -> None:
        """Count down to the next reconnection attempt (only while there is one: idle is free)."""
        self._counter = self.set_interval(0.25, self._count_down, pause=True)

    def show_link(self, link: LinkState, detail: str = "", error: str | None = None) -> None:
        """Show the link state (and replace the error line when ``error`` is given)."""
        self.link, self.link_detail = link, detail
        self._retry_at = None
        if self._counter is not None:
            self._counter.pause()
        if error is not None:
            self.error = error

    def show_retry(self, retry_in: float, reason: str) -> None:
        """The link is down: say why (as a sentence), and count down to the next attempt."""
        sentence = reason[:1].upper() + reason[1:] + "."
        self.show_link(LinkState.RECONNECTING, f"in {retry_in:.0f} s", sentence)
        self._retry_at = time.monotonic() + retry_in
        if self._counter is not None:
            self._counter.resume()

    def begin_answer(self) -> None:
        """A prompt was sent: clear the last answer's error and timings."""
        self.error = ""
        self.first_text_ms = self.first_audio_ms = None

    def show_timings(self, first_text_ms: float | None, first_audio_ms: float | None) -> None:
        """Show how long the answer took to first text and first audio (when timed)."""
        if self.timed:
            self.first_text_ms, self.first_audio_ms = first_text_ms, first_audio_ms

    def render(self) -> Content:
        """Build the line from its parts."""
        sep = Content.styled(" │ ", "$text-muted")
        label = _LINK_LABELS.get(self.link, str(self.link))
        link = f"{label} {self.link_detail}".strip()
        parts = [Content.styled(f"● {link}", _LINK_STYLES.get(self.link, ""))]
        if self.llm:
            parts.append(Content.assemble(("LLM ", "$text-muted"), self.llm))
        if self.tts:
            parts.append(Content.assemble(("TTS ", "$text-muted"), self.tts))
        parts.append(Content(self.mode))
        if self.audio_note:
            parts.append(Content.styled(self.audio_note, "$text-warning"))
        parts.append(Content.styled(str(self.state), "bold"))
        timings = self._timings()
        if timings:
            parts.append(Content.styled(timings, "$text-muted"))
        line = sep.join(parts)
        if self.error:
            line = Content.assemble(line, "\n", Content.styled(f"✗ {self.error}", "$text-error"))
        return line

    def _count_down(self) -> None:
        if self._retry_at is not None and self.link == LinkState.RECONNECTING:
            self.link_detail = f"in {max(0, round(self._retry_at - time.monotonic()))} s"

    def _timings(self) -> str:
        shown = []
        if self.first_text_ms is not None:
            shown.append(f"1st text {self.first_text_ms:.0f} ms")
        if self.first_audio_ms is not None:
            shown.append(f"1st audio {self.first_audio_ms:.0f} ms")
        return " · ".join(shown)
