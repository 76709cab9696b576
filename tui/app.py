"""talkterm: type a question, read the answer as it is written and hear it spoken.

The link worker posts what the server said (``Connection.*`` messages); the audio
thread decodes and feeds the player (``Playback``, which also keeps the *generation*
that silences a stopped answer at once); while an answer is out, a 50 ms tick moves
the highlight with the playback position (idle, nothing ticks: bench/idle_cpu.py).
Handlers here decide; the answer and the widgets do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Footer

from server import protocol as p
from tui import answer as endings
from tui import link as wire
from tui.answer import Answer, AnswerEvent, Ending, ResponseState
from tui.audio_feed import AudioFeed, PlayerLike, open_player
from tui.commands import TalktermCommands, key, shown_keys
from tui.config import Settings
from tui.connection import Connection
from tui.link import Link, LinkState
from tui.playback import Playback
from tui.settings_commands import SettingsCommands
from tui.settings_keeper import SettingsKeeper
from tui.widgets.prompt_box import PromptBox
from tui.widgets.status_line import StatusLine
from tui.widgets.transcript import TranscriptView

log = logging.getLogger("talkterm.app")

_STOP_GRACE_S = 3.0


class Talkterm(App[None], inherit_bindings=False):
    """The talkterm terminal app."""

    CSS_PATH = "app.tcss"
    TITLE = "talkterm"
    COMMANDS = App.COMMANDS | {TalktermCommands, SettingsCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        key("ctrl+j", "start", "Send", "Send the prompt (an answer in progress is stopped first)"),
        key("ctrl+o", "pause", "Pause", "Pause speech and text at once"),
        key("ctrl+r", "resume", "Resume", "Carry on from the word where you paused"),
        key("ctrl+g", "stop", "Stop", "Stop the answer; it keeps only what you heard"),
        key("ctrl+t", "toggle_mode", "Voice/Text", "Switch between spoken and text-only answers"),
        # Not in the footer (the palette offers Settings and each of its fields).
        Binding("f2", "settings", "Settings", show=False, id="settings", priority=True),
        key("ctrl+q", "quit", "Quit", "Quit talkterm"),
        # Textual's own: ctrl+c copies in the prompt, elsewhere it says how to quit.
        Binding("ctrl+c", "help_quit", show=False, system=True),
    ]

    state: reactive[ResponseState] = reactive(ResponseState.IDLE, bindings=True)
    """Where the app is with an answer (shown in the status line)."""
    link_state: reactive[LinkState] = reactive(LinkState.CONNECTING, bindings=True)
    """How the link to the server stands."""
    voice: reactive[bool] = reactive(True, bindings=True)
    """Whether answers are spoken (False: text only)."""
    audio_ok: reactive[bool] = reactive(False, bindings=True)
    """Whether an output device is open."""
    _ticker: Timer

    def __init__(
        self,
        settings: Settings,
        *,
        player: PlayerLike | None = None,
        link_factory: Callable[[Talkterm], Link] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.sound = Playback(self.post_message, player)
        self.link: Link = (link_factory or _default_link)(self)
        self.answer: Answer | None = None
        self.history: list[tuple[str, str]] = []
        """(role, text) of every finished turn, to re-seed a session the server lost."""
        self._pending: str | None = None
        self._stop_timer: Timer | None = None
        self.preferences = SettingsKeeper(self)
        self.set_reactive(Talkterm.voice, not settings.text_only)
        self.set_keymap(settings.keymap)

    def compose(self) -> ComposeResult:
        """Status line, transcript, prompt, footer."""
        yield StatusLine(timed=not self.settings.snapshot_mode).data_bind(Talkterm.state)
        yield TranscriptView(id="transcript")
        yield PromptBox()
        yield Footer()

    def on_mount(self) -> None:
        """Focus the prompt, open audio, connect, start the playback tick."""
        prompt = self.query_one(PromptBox)
        prompt.focus()
        # A blinking cursor would make screenshots depend on the moment they are taken.
        prompt.cursor_blink = not self.settings.snapshot_mode
        self.status.mode = "voice" if self.voice else "text"
        self.preferences.mount()
        self.sound.start(lambda: self.sound.player if self.audio_ok else None)
        self._open_audio()
        self._run_link()
        self._ticker = self.set_interval(0.05, self._tick, pause=True)

    async def on_unmount(self) -> None:
        """Silence the speaker and stop the companion server."""
        self.sound.close()
        await self.link.close()

    @property
    def player(self) -> PlayerLike | None:
        """The player in use (or to open)."""
        return self.sound.player

    @property
    def status(self) -> StatusLine:
        """The status line widget."""
        return self.query_one(StatusLine)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Enable keys as they apply; the others stay in the footer, dimmed."""
        applies = {
            "start": self.link_state == LinkState.CONNECTED,
            "pause": self.state == ResponseState.STREAMING,
            "resume": self.state == ResponseState.PAUSED,
            "stop": self.state in (ResponseState.STREAMING, ResponseState.PAUSED),
            "toggle_mode": self.audio_ok,
        }.get(action, True)
        return True if applies else None

    def key_for(self, action: str) -> str:
        """How the key bound to ``action`` is shown (after any keymap change)."""
        return shown_keys(self).get(action, action)

    # -- workers ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="audio-open", exit_on_error=False)
    def _open_audio(self) -> None:
        open_player(self.player, self.settings.audio_device, self.post_message)

    @work(exclusive=True, group="link", exit_on_error=False)
    async def _run_link(self) -> None:
        await self.link.run()

    # -- what the link reports ------------------------------------------------------------

    def on_connection_connecting(self, message: Connection.Connecting) -> None:
        """An attempt begins: first the companion server, then the handshake."""
        starting = message.url is None and not self.settings.server
        self.link_state = LinkState.STARTING if starting else LinkState.CONNECTING
        self.status.show_link(self.link_state)

    def on_connection_connected(self, message: Connection.Connected) -> None:
        """Handshake done: ask for binary audio and the current output mode."""
        self.link_state = LinkState.CONNECTED
        self.status.show_link(LinkState.CONNECTED, error="")
        self._update_session()
        self._send(*self.preferences.session_events())

    async def on_connection_session_started(self, message: Connection.SessionStarted) -> None:
        """Show which LLM and speech engine the server uses; re-seed a lost session."""
        self.status.llm = f"{message.llm} (demo)" if message.demo else message.llm
        self.status.tts = message.tts
        self.preferences.learn(message.models, message.voices)
        if message.replaced:
            await self._end_answer(endings.FORGOTTEN)
            # The new session starts empty: give it the conversation as the person saw it.
            self._send(*(wire.conversation_item(role, text) for role, text in self.history))

    def on_connection_session_updated(self, message: Connection.SessionUpdated) -> None:
        """The server may list its models and voices anew."""
        self.preferences.learn(message.models, message.voices)

    def on_connection_session_resumed(self, message: Connection.SessionResumed) -> None:
        """Back in the same session: the answer carries on where it was cut."""
        if self.answer is not None:
            self.answer.turn.set_mark("paused" if self.state == ResponseState.PAUSED else None)

    async def on_connection_lost(self, message: Connection.Lost) -> None:
        """Say when the next attempt is; an answer waits for the session to resume."""
        self.link_state = LinkState.RECONNECTING
        self.status.show_retry(message.retry_in, message.reason)
        if self.link.resumable:
            # Audio already here keeps playing; the rest follows when the session resumes.
            if self.answer is not None:
                self.answer.turn.set_mark("interrupted", "↯ connection lost — resuming…")
            return
        self._pending = None
        await self._end_answer(endings.LOST)

    async def on_connection_auth_refused(self, message: Connection.AuthRefused) -> None:
        """Final: there is no retry loop for a refused token."""
        self.link_state = LinkState.REFUSED
        self.status.show_link(LinkState.REFUSED, error=message.reason)
        self.notify(message.reason, title="Auth refused", severity="error", timeout=10)
        await self._end_answer(endings.REFUSED)

    @on(Connection.ResponseStarted)
    @on(Connection.ItemStarted)
    @on(Connection.TextArrived)
    @on(Connection.SegmentAnnounced)
    @on(Connection.AudioArrived)
    def _fill_answer(self, message: AnswerEvent) -> None:
        """Ids, text, audio and its offsets go to the answer they belong to (it adopts the id)."""
        if answer := self._answer_for(message.response_id):
            answer.take(message, self.sound.feed)
            self.status.show_timings(answer.first_text_ms, answer.first_audio_ms)

    async def on_connection_response_finished(self, message: Connection.ResponseFinished) -> None:
        """The server is done with a response; its audio may still be playing."""
        if self.state == ResponseState.STOPPING and self.answer is None:
            await self._settle()
        elif answer := self._answer_for(message.response_id):
            answer.done = True
            self.sound.feed.end(answer.generation)
            if ending := answer.ending(message.status):
                await self._end_answer(ending)

    async def on_connection_server_error(self, message: Connection.ServerError) -> None:
        """Say what went wrong, in the server's plain words."""
        if message.code in wire.RACES:
            log.info("ignored a race: %s", message.message)
            return
        answer = self.answer
        if message.code == wire.BUSY and answer is not None and answer.response_id is None:
            # The server may still be closing the answer we cancelled: ask again, briefly.
            if (delay := answer.retry_delay()) is not None:
                self.set_timer(delay, lambda: self._ask_again(answer))
                return
            await self._end_answer(Ending("failed", f"✗ {message.message}"))
        elif answer is not None and not answer.done:
            answer.error = message.message
        self.status.error = message.message
        self.notify(message.message, title="Server", severity="error", timeout=8)

    def on_audio_feed_drained(self, message: AudioFeed.Drained) -> None:
        """All audio of an answer has reached the player."""
        if self.answer is not None and self.answer.generation == message.generation:
            self.answer.audio_fed = True

    def on_audio_feed_failed(self, message: AudioFeed.Failed) -> None:
        """A segment could not be decoded; the text carries on."""
        self.notify(message.reason, title="Audio", severity="warning")

    @on(AudioFeed.Opened)
    @on(AudioFeed.Missing)
    def _audio_checked(self, message: AudioFeed.Opened | AudioFeed.Missing) -> None:
        """Sound works (voice is possible), or it does not: say so, ask for text only."""
        if isinstance(message, AudioFeed.Opened):
            self.sound.player = message.player
        self.audio_ok = isinstance(message, AudioFeed.Opened)
        self.status.audio_note = "" if self.audio_ok else "no audio device — text only"
        self._update_session()

    # -- actions --------------------------------------------------------------------------

    def action_start(self) -> None:
        """Send the prompt; an answer in progress is stopped first, then this one is sent."""
        # A priority key overtakes the keys typed just before it, which still wait in the
        # prompt's queue: read the prompt once it has taken them.
        # The prompt hands the work back to the app's own queue, so that server events are
        # not handled half-way through starting the answer.
        self.query_one(PromptBox).call_later(self.call_later, self._start)

    async def _start(self) -> None:
        prompt = self.query_one(PromptBox)
        text = prompt.text.strip()
        if not text:
            self.notify("Type a question first.", severity="warning", timeout=3)
        elif self.state != ResponseState.IDLE:
            self._pending = prompt.take()
            self.notify("Stopping the current answer first…", timeout=2)
            await self._stop_answer()
        elif await self._send_prompt(text):
            prompt.take()

    def action_pause(self) -> None:
        """Silence within one audio block and hold the text; the server holds too."""
        if (answer := self.answer) is None:
            return
        self.sound.pause()
        self._send(*answer.pause_events())
        answer.turn.hold()
        answer.turn.set_mark("paused", f"‖ paused — {self.key_for('resume')} resumes")
        self.state = ResponseState.PAUSED

    async def action_resume(self) -> None:
        """Carry on from the exact sample and word."""
        if (answer := self.answer) is None:
            return
        self.sound.resume()
        self._send(*answer.resume_events())
        answer.turn.set_mark(None)
        self.state = ResponseState.STREAMING
        await answer.turn.release()

    async def action_stop(self) -> None:
        """Silence at once, cancel, and keep only what was heard."""
        await self._stop_answer()

    def action_settings(self, field: str = "") -> None:
        """Open the settings screen (on one field, from the palette)."""
        self.preferences.open(field or None)

    def action_toggle_mode(self) -> None:
        """Switch between voice and text only, from the next answer on."""
        self.voice = not self.voice
        self._update_session()

    # -- an answer's life -------------------------------------------------------------------

    async def _send_prompt(self, text: str) -> bool:
        if not self.link.connected:
            self.notify("Not connected to the server yet.", severity="error", timeout=4)
            return False
        voice, sent_at = self.voice and self.audio_ok, time.perf_counter()
        self.status.begin_answer()
        transcript = self.query_one(TranscriptView)
        await transcript.add_user(text)
        turn = await transcript.add_assistant()
        generation = self.sound.begin(voice)
        # The answer exists before the request leaves, so no event of it can be missed.
        self.answer = Answer(turn, generation, voice, sent_at, create=wire.response_create(voice))
        self.state = ResponseState.STREAMING
        self._ticker.resume()
        self.history.append(("user", text))
        self._send(p.user_text_item(text), self.answer.create)
        return True

    async def _stop_answer(self) -> None:
        if (answer := self.answer) is None:
            return
        heard = self.sound.stop(answer.audio_seen)  # what is still queued is never played
        self._send(*answer.stop_events(heard))
        await self._end_answer(answer.stopped(heard), settle=answer.done)
        if not answer.done:
            # Wait for the cancelled response's response.done before the next prompt.
            self.state = ResponseState.STOPPING
            self._stop_timer = self.set_timer(_STOP_GRACE_S, self._stop_timed_out)

    async def _stop_timed_out(self) -> None:
        if self.state == ResponseState.STOPPING:
            log.warning("no response.done within %.0f s of a cancel", _STOP_GRACE_S)
            await self._settle()

    async def _end_answer(self, ending: Ending, *, settle: bool = True) -> None:
        answer, self.answer = self.answer, None
        if answer is None:
            return
        if answer.turn.text:
            self.history.append(("assistant", answer.turn.text))
        if ending.silence and answer.audio_seen:
            self.sound.silence()
        await answer.turn.end(ending.mark, ending.note)
        if settle:
            await self._settle()

    async def _settle(self) -> None:
        """Back to idle; send a prompt that waited for the previous answer to stop."""
        self.state = ResponseState.IDLE
        self._ticker.pause()
        if self._stop_timer is not None:
            self._stop_timer.stop()
            self._stop_timer = None
        self.sound.collector.between_answers()
        pending, self._pending = self._pending, None
        if pending and not await self._send_prompt(pending):
            self.query_one(PromptBox).text = pending

    def _ask_again(self, answer: Answer) -> None:
        if self.answer is answer and answer.response_id is None:
            self._send(answer.create)

    def _answer_for(self, response_id: str) -> Answer | None:
        answer = self.answer
        return answer if answer is not None and answer.owns(response_id) else None

    async def _tick(self) -> None:
        """Move the highlight with playback; notice when playback has finished."""
        answer, position = self.answer, self.sound.position()
        if answer is None or position is None or not answer.audio_seen:
            return
        played_ms, buffered_ms = position
        if span := answer.span_at(played_ms):
            answer.turn.highlight(*span)
        if self.state == ResponseState.STREAMING and answer.finished_playing(buffered_ms):
            await self._end_answer(endings.PLAYED)

    def _send(self, *events: dict[str, Any]) -> None:
        wire.send_all(self.link, events)

    def _update_session(self) -> None:
        self.status.mode = "voice" if self.voice and self.audio_ok else "text"
        if self.link.connected:
            self._send(wire.session_update(self.voice and self.audio_ok))


def _default_link(app: Talkterm) -> Link:
    return Connection.from_settings(app.settings, app.post_message)


def make_app(
    settings: Settings | None = None,
    *,
    player: PlayerLike | None = None,
    link_factory: Callable[[Talkterm], Link] | None = None,
) -> Talkterm:
    """Build the app for the CLI and the tests."""
    return Talkterm(settings or Settings(), player=player, link_factory=link_factory)
