"""Talk instead of typing: f4 listens, the pause after speaking sends, Esc cancels.

Terminals report no key releases, so talking is tap-to-talk: ``f4`` opens the
microphone and the server's voice activity detection ends the turn at the pause after
speaking (``f4`` or Enter end it at once; Esc throws it away). While listening, a tick
drains the microphone into ``input_audio_buffer.append`` events and shows the time and
a level meter. Half-duplex: the microphone is closed before an answer plays, so the
assistant never hears itself; hands-free mode opens it again after each answer. The
turn's words arrive as its transcript: then it is shown, written down (marked spoken)
and answered.

Barge-in: hands-free with echo cancellation (``tui.audio.echo``) keeps the microphone
open while answers play, the player's sound taken out of it; speech the server hears
over an answer stops it as Esc does, and that turn goes on being heard.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import on, work
from textual.reactive import reactive
from textual.timer import Timer

from tui.app.status_access import StatusAccess
from tui.audio import MicrophoneLike
from tui.audio.echo import EchoCanceller, tap_player
from tui.audio.mic import level, meter
from tui.audio.playback import Playback
from tui.config import Settings
from tui.errors import AudioUnavailable
from tui.link import Link, send_all
from tui.link.events import input_audio, input_clear, input_commit, listening
from tui.link.websocket import Connection
from tui.states import ResponseState
from tui.widgets.prompt_box import PromptBox
from tui.widgets.transcript import TranscriptView, UserTurn

if TYPE_CHECKING:
    from tui.app.settings_keeper import SettingsKeeper

TICK_S = 0.1
"""How often the microphone is drained while listening (appends of 100 ms)."""
MUTED_AFTER_S = 3.0
"""A microphone that recorded this much audio, all of it zeros, is said to be muted."""
_BYTES_PER_S = 48_000  # PCM16 mono 24 kHz
_METER_BARS = 8
NOT_HEARD = "🎤 (didn't catch that)"


class Listening(StatusAccess):
    """The talk key, the microphone while listening, and the turns the server heard."""

    can_listen: reactive[bool] = reactive(False, bindings=True)
    """Whether the session has a speech recognizer (``session.talkterm.listen``)."""
    deaf_because = ""
    """Why it has none, in the server's words."""
    push_to_talk = False
    """The turn ends only with f4 or Enter (HTTP streaming has no voice activity detection)."""

    settings: Settings
    link: Link
    state: reactive[ResponseState]
    spoken: bool
    sound: Playback
    preferences: SettingsKeeper

    def listening_setup(self, mic: MicrophoneLike | None) -> None:
        """Hold the microphone to use (None: the default device, opened on f4)."""
        self.mic = mic
        self._mic_open = False
        self._listen_timer: Timer | None = None
        self._listen_started = 0.0
        self._levels: list[float] = []
        self._loudest = 0.0
        self._recorded = 0
        self._heard_turn: UserTurn | None = None
        self._committed: str | None = None
        self._listen_next = False
        self.echo: EchoCanceller | None = None
        """WebRTC's echo canceller, made the first time the microphone opens with it on."""
        self._echo_on = False  # the open microphone's audio goes through it
        self._echo_missing: str | None = None
        """Why the canceller could not be made (its package missing): said once, not retried."""

    # -- the key ------------------------------------------------------------------------

    async def action_talk(self) -> None:
        """Idle: listen. Listening: send now. Answering: stop it, then listen."""
        if self.state == ResponseState.LISTENING:
            self._commit()
            return
        if self.state in (ResponseState.STREAMING, ResponseState.PAUSED):
            await self.stop_answer()
        if self._is_idle():
            self.listen()
        else:  # the cancel is still being confirmed: listen once it is
            self._listen_next = True

    def listen(self) -> None:
        """Open the microphone (off the UI thread) and start a spoken turn."""
        if not self.can_listen:
            why = self.deaf_because or "it has no speech recognizer"
            self.notify(
                f"This server cannot listen ({why.rstrip('.')}); type instead.",
                title="Talk",
                severity="warning",
                timeout=5,
            )
            return
        if self.state != ResponseState.IDLE:
            return
        if self._mic_open:  # it stayed open through the answer (barge-in)
            self._show_listening()
        else:
            self._open_mic()

    def overhear(self) -> None:
        """An answer starts: with barge-in, keep (or start) listening while it plays."""
        if self._barge_in_wanted and self.can_listen and not self._mic_open:
            self._open_mic()

    @property
    def _barge_in_wanted(self) -> bool:
        # Not without a canceller: a microphone opened over an answer would only be closed.
        can_cancel = self.echo is not None or self._echo_missing is None  # made, or not tried
        wanted = self.settings.hands_free and self.preferences.echo and not self.push_to_talk
        return wanted and can_cancel

    @property
    def barge_in(self) -> bool:
        """Whether the open microphone stays open while answers play (echo cancelled)."""
        return self._echo_on and self._barge_in_wanted

    @work(thread=True, exclusive=True, group="mic-open", exit_on_error=False)
    def _open_mic(self) -> None:
        mic = self.mic
        if mic is None:
            from tui.audio.mic import Microphone  # sounddevice loads only when asked to talk

            device = self.settings.mic_device
            mic = Microphone(int(device) if device and device.isdigit() else device)
        if self.preferences.echo and self.echo is None and self._echo_missing is None:
            try:  # livekit loads here, off the UI thread, only when wanted
                self.echo = EchoCanceller()
            except AudioUnavailable as exc:
                self._echo_missing = str(exc)  # once per run: it will not appear meanwhile
                self.call_from_thread(self._no_echo, str(exc))
        try:
            mic.open()
        except Exception as exc:  # AudioUnavailable, and PortAudio's undocumented ways to fail
            self.call_from_thread(self._no_mic, str(exc))
            return
        self.call_from_thread(self._listening, mic)

    def _no_echo(self, reason: str) -> None:
        self.notify(
            f"{reason} The microphone stays closed while answers play.",
            title="Echo cancellation",
            severity="warning",
            timeout=8,
        )

    def _no_mic(self, reason: str) -> None:
        self.notify(f"{reason} Typing still works.", title="Talk", severity="warning", timeout=6)

    def _listening(self, mic: MicrophoneLike) -> None:
        if self._mic_open:  # two opens overlapped (hands-free's, and one over a typed question)
            if mic is not self.mic:
                mic.close()
            return
        echo = self.echo if self.preferences.echo else None
        self._echo_on = tap_player(self.sound.player, echo) and echo is not None
        if self.state != ResponseState.IDLE and not self.barge_in:  # an answer started
            mic.close()
            self._echo_on = False
            return
        if echo is not None and self._echo_on:
            echo.restart()
        self.mic, self._mic_open = mic, True
        self._listen_started = time.monotonic()
        self._levels, self._loudest, self._recorded = [], 0.0, 0
        send_all(self.link, [listening(vad=True)])
        self._listen_timer = self.set_interval(TICK_S, self._pump)
        self._show_listening()

    def _show_listening(self) -> None:
        """Listening for a turn (not only overhearing an answer): say so in the prompt."""
        if self.state != ResponseState.IDLE:
            return
        self.state = ResponseState.LISTENING
        prompt = self.query_one(PromptBox)
        prompt.placeholder = (
            "Listening… f4 or Enter sends · Esc cancels"
            if self.push_to_talk
            else "Listening… pause to send · f4 or Enter sends now · Esc cancels"
        )
        self._pump()

    # -- while listening ---------------------------------------------------------------------

    def _pump(self) -> None:
        """Send what the microphone recorded; show the time and the level."""
        if not self._mic_open or self.mic is None:
            return
        raw = self.mic.drain()
        # The meter and the muted check judge the microphone itself, not the echo left.
        pcm = self.echo.clean(raw) if self._echo_on and self.echo is not None else raw
        if pcm:
            send_all(self.link, [input_audio(pcm)])
        loudness = level(raw)
        self._loudest = max(self._loudest, loudness)
        self._recorded += len(raw)
        self._levels = [*self._levels, loudness][-_METER_BARS:]
        seconds = time.monotonic() - self._listen_started
        clock = f"{int(seconds) // 60}:{int(seconds) % 60:02d}"
        self.status.listening = f"🎤 {clock} {meter(self._levels)}"
        # Only audio counts: a source that delivers nothing yet (a sound server still
        # waking up) is not a muted one.
        if self._recorded >= MUTED_AFTER_S * _BYTES_PER_S and self._loudest == 0.0:
            self._close_mic()
            send_all(self.link, [input_clear()])
            if self.state == ResponseState.LISTENING:  # not an answer it overheard
                self.state = ResponseState.IDLE
            self.notify(
                "The microphone sends only silence (is it muted?). Typing still works.",
                title="Talk",
                severity="warning",
                timeout=6,
            )

    def _commit(self) -> None:
        """Send the turn now instead of waiting for the pause."""
        self._pump()
        send_all(self.link, [input_commit()])
        if not self.barge_in:
            self._close_mic()
        self.state = ResponseState.IDLE  # the server's committed (and the words) follow

    def cancel_listening(self) -> None:
        """Esc while listening: throw the turn away; nothing is asked."""
        self._close_mic()
        send_all(self.link, [input_clear()])
        self.state = ResponseState.IDLE

    def _close_mic(self) -> None:
        if self._listen_timer is not None:
            self._listen_timer.stop()
            self._listen_timer = None
        if self._mic_open and self.mic is not None:
            self.mic.close()
        self._mic_open = self._echo_on = False
        self.status.listening = ""
        self._prompt_as_usual()

    def _prompt_as_usual(self) -> None:
        for prompt in self.query(PromptBox):
            prompt.placeholder = PromptBox.PLACEHOLDER

    def close_listening(self) -> None:
        """The app is closing: the microphone too."""
        self._close_mic()

    # -- what the server heard ---------------------------------------------------------------

    async def on_connection_speech_started(self, message: Connection.SpeechStarted) -> None:
        """The server hears speech: say so while the meter moves; over an answer, stop it."""
        self.status.heard_speech = True
        if self.barge_in and self.state in (ResponseState.STREAMING, ResponseState.PAUSED):
            self._listen_next = True  # the turn goes on; once stopped, show it listening
            await self.stop_answer()

    @on(Connection.InputCommitted)
    async def _committed_turn(self, message: Connection.InputCommitted) -> None:
        """The turn is in (the pause, or f4/Enter): show it; its words follow."""
        if self.barge_in:  # it goes on listening, through the answer to come
            self._prompt_as_usual()
        else:
            self._close_mic()
        self.status.heard_speech = False
        self._committed, self._heard_turn = message.item_id, None
        for transcript in self.query(TranscriptView):  # none once the app is closing
            self._heard_turn = await transcript.add_user("🎤 …")
        if self.state == ResponseState.LISTENING:
            self.state = ResponseState.IDLE

    async def on_connection_heard(self, message: Connection.Heard) -> None:
        """The words of the turn: fill it in, write it down, ask for the answer."""
        turn, self._heard_turn = self._heard_turn, None
        words = message.transcript.strip()
        if message.item_id != self._committed or turn is None:
            return
        if not words:
            turn.update(NOT_HEARD)
            return
        turn.prompt = words
        turn.update(f"🎤 {words}")
        await self.ask_spoken(words)

    def on_connection_not_heard(self, message: Connection.NotHeard) -> None:
        """Silence, noise or a cough: nothing is asked, and the app is ready again."""
        turn, self._heard_turn = self._heard_turn, None
        if turn is not None:
            turn.update(NOT_HEARD)
        self.notify(message.message, title="Didn't catch that", timeout=4)

    def after_answer(self) -> None:
        """Listen once an answer is over: after f4 stopped it, or hands-free after every one."""
        wanted, self._listen_next = self._listen_next or self.settings.hands_free, False
        if wanted and self.can_listen and self._is_idle():
            self.listen()

    def _is_idle(self) -> bool:
        # A method, not a comparison in place: mypy narrows ``state`` and cannot see that
        # awaiting the stop may have changed it.
        return self.state == ResponseState.IDLE

    # -- supplied by the app --------------------------------------------------------------

    async def stop_answer(self) -> None:
        """Stop the answer in progress (the app's Stop)."""
        raise NotImplementedError

    async def ask_spoken(self, words: str) -> None:
        """Ask for an answer to a spoken turn already in the conversation."""
        raise NotImplementedError
