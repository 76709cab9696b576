"""Voice or text: the audio device check, the mode toggle, what the session is asked for.

Answers are spoken when the person wants voice *and* an output device opened; the
server is told the resulting mode whenever either changes.
"""

from __future__ import annotations

from textual import on, work
from textual.reactive import reactive

from tui.app.status_access import StatusAccess
from tui.audio.feed import AudioFeed, open_player
from tui.audio.playback import Playback
from tui.config import Settings
from tui.link import Link, send_all
from tui.link.events import session_update
from tui.widgets.greeting import Greeting


class OutputMode(StatusAccess):
    """Whether answers are spoken, and the device that speaks them."""

    voice: reactive[bool] = reactive(True, bindings=True)
    """Whether answers are spoken (False: text only)."""
    audio_ok: reactive[bool] = reactive(False, bindings=True)
    """Whether an output device is open."""

    settings: Settings
    sound: Playback
    link: Link

    @property
    def spoken(self) -> bool:
        """Whether the next answer is spoken."""
        return self.voice and self.audio_ok

    def action_toggle_mode(self) -> None:
        """Switch between voice and text only, from the next answer on."""
        self.voice = not self.voice
        self.update_session()

    def update_session(self) -> None:
        """Show the mode, and ask the server for it (and for audio as binary frames)."""
        self.status.mode = "voice" if self.spoken else "text"
        if self.link.connected:
            send_all(self.link, [session_update(self.spoken)])

    @work(thread=True, exclusive=True, group="audio-open", exit_on_error=False)
    def open_audio(self) -> None:
        """Open the output device off the UI thread; Opened or Missing says how it went."""
        open_player(self.sound.player, self.settings.audio_device, self.post_message)

    @on(AudioFeed.Opened)
    @on(AudioFeed.Missing)
    def _audio_checked(self, message: AudioFeed.Opened | AudioFeed.Missing) -> None:
        """Sound works (voice is possible), or it does not: say so, ask for text only."""
        if isinstance(message, AudioFeed.Opened):
            self.sound.player = message.player
        self.audio_ok = isinstance(message, AudioFeed.Opened)
        note = "" if self.audio_ok else "no audio device — text only"
        self.status.audio_note = note
        for greeting in self.query(Greeting):  # none once the app is closing
            greeting.silent = not self.audio_ok
        self.update_session()

    def on_audio_feed_failed(self, message: AudioFeed.Failed) -> None:
        """A segment could not be decoded; the text carries on."""
        self.notify(message.reason, title="Audio", severity="warning")
