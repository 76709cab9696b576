"""One line saying how things stand: link, response state, mode, LLM and voice, timings.

It stays one line at 80 columns: short labels, cut with an ellipsis when the terminal
is narrower still; the whole of it (addresses, the full error) is its tooltip and the
palette's Status command.
"""

from __future__ import annotations

import time

from textual.content import Content
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget

from tui.languages import language_name
from tui.states import LinkState, Mode, ResponseState, model_in

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
    StatusLine { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    link: reactive[LinkState] = reactive(LinkState.CONNECTING, layout=True)
    link_detail: reactive[str] = reactive("", layout=True)
    """Words after the link state, e.g. "in 4 s" or the reason of a refusal."""
    llm: reactive[str] = reactive("", layout=True)
    """The server's LLM label (a model and where it runs)."""
    demo: reactive[bool] = reactive(False, layout=True)
    """Whether the LLM is the demo responder."""
    tts: reactive[str] = reactive("", layout=True)
    mode: reactive[Mode] = reactive[Mode]("voice", layout=True)
    """voice or text."""
    audio_note: reactive[str] = reactive("", layout=True)
    """Why there is no sound, e.g. "no audio device — text only"."""
    state: reactive[ResponseState] = reactive(ResponseState.IDLE, layout=True)
    """The current response state (bound to the app's)."""
    first_text_ms: reactive[float | None] = reactive(None, layout=True)
    first_audio_ms: reactive[float | None] = reactive(None, layout=True)
    error: reactive[str] = reactive("", layout=True)
    """The latest error in plain words, cleared by the next prompt."""
    listening: reactive[str] = reactive("", layout=True)
    """While the microphone is open: its time and level meter, e.g. "🎤 0:03 ▂▅▇▃"."""
    heard_speech: reactive[bool] = reactive(False, layout=True)
    """The server hears speech in what the microphone sends."""
    language: reactive[str] = reactive("", layout=True)
    """The language of the sentence being spoken (the server's code), beside the voice."""

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
        """Build the line from its parts, the most telling first."""
        sep = Content.styled(" │ ", "$text-muted")
        parts = [
            Content.styled(f"● {self._link_text()}", _LINK_STYLES.get(self.link, "")),
            Content.styled(str(self.state), "bold"),
        ]
        if self.listening:
            heard = " hearing you" if self.heard_speech else ""
            parts.append(Content.styled(self.listening + heard, "$text-accent"))
        if self.error:
            parts.append(Content.styled(f"✗ {self.error}", "$text-error"))
        mode = f"{self.mode} (no audio)" if self.audio_note else self.mode
        parts.append(Content.styled(mode, "$text-warning" if self.audio_note else ""))
        parts += [Content(label) for label in (self.llm_short, self._speech()) if label]
        if timings := self._timings():
            parts.append(Content.styled(timings, "$text-muted"))
        self._set_tooltip()
        return sep.join(parts)

    @property
    def llm_short(self) -> str:
        """The model alone: no address, at most 24 characters."""
        if self.demo:
            return "demo LLM"
        model = model_in(self.llm)
        return model if len(model) <= 24 else model[:23] + "…"

    def details(self) -> str:
        """Everything the line stands for, in full, one item a line."""
        rows = [
            ("Link", self._link_text()),
            ("Answer", str(self.state)),
            ("Mode", self.mode),
            ("Audio", self.audio_note),
            ("LLM", self.llm + (" (demo responder)" if self.demo else "")),
            ("Speech", self.tts),
            ("Speaking", language_name(self.language)),
            ("Timings", self._timings(long=True)),
            ("Error", self.error),
        ]
        return "\n".join(f"{name}: {value}" for name, value in rows if value)

    def _speech(self) -> str:
        if not self.language:
            return self.tts
        return f"{self.tts} · {language_name(self.language)}".lstrip(" ·")

    def _link_text(self) -> str:
        label = _LINK_LABELS.get(self.link, str(self.link))
        return f"{label} {self.link_detail}".strip()

    def _set_tooltip(self) -> None:
        details = self.details()
        if self.tooltip != details:
            self.tooltip = details

    def _count_down(self) -> None:
        if self._retry_at is not None and self.link == LinkState.RECONNECTING:
            self.link_detail = f"in {max(0, round(self._retry_at - time.monotonic()))} s"

    def _timings(self, *, long: bool = False) -> str:
        text, audio = self.first_text_ms, self.first_audio_ms
        if long:
            shown = [f"first text {text:.0f} ms"] if text is not None else []
            return " · ".join(
                shown + ([f"first audio {audio:.0f} ms"] if audio is not None else [])
            )
        if text is None:
            return ""
        return f"1st {text:.0f}" + (f"/{audio:.0f}" if audio is not None else "") + " ms"
