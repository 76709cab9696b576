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
from textual.binding import BindingType
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Footer

from server import protocol as p
from tui.app import answer as endings
from tui.app.answer import Answer, AnswerEvent, Ending
from tui.app.chat_actions import ChatActions
from tui.app.chat_log import ChatLog
from tui.app.clipboard import CopyActions
from tui.app.commands import TalktermCommands
from tui.app.listening import Listening
from tui.app.output_mode import OutputMode
from tui.app.settings_actions import SettingsActions
from tui.app.settings_commands import SettingsCommands
from tui.app.settings_keeper import SettingsKeeper
from tui.audio import MicrophoneLike, PlayerLike
from tui.audio.feed import AudioFeed
from tui.audio.playback import Playback
from tui.config import Settings
from tui.keys import APP_KEYS, shown_keys
from tui.link import Link, send_all
from tui.link.events import conversation_item, response_create
from tui.link.setup import make_link
from tui.link.websocket import Connection
from tui.states import LinkState, ResponseState
from tui.widgets.prompt_box import PromptBox
from tui.widgets.status_line import StatusLine
from tui.widgets.transcript import TranscriptView

log = logging.getLogger("talkterm.app")

_STOP_GRACE_S = 3.0


class Talkterm(
    Listening, OutputMode, CopyActions, ChatActions, SettingsActions, inherit_bindings=False
):
    """The talkterm terminal app."""

    CSS_PATH = "app.tcss"
    TITLE = "talkterm"
    COMMANDS = App.COMMANDS | {TalktermCommands, SettingsCommands}
    BINDINGS: ClassVar[list[BindingType]] = list(APP_KEYS)

    state: reactive[ResponseState] = reactive(ResponseState.IDLE, bindings=True)
    """Where the app is with an answer (shown in the status line)."""
    link_state: reactive[LinkState] = reactive(LinkState.CONNECTING, bindings=True)
    """How the link to the server stands."""

    _ticker: Timer

    def __init__(
        self,
        settings: Settings,
        *,
        player: PlayerLike | None = None,
        link_factory: Callable[[Talkterm], Link] | None = None,
        mic: MicrophoneLike | None = None,
    ) -> None:
        super().__init__()
        self.listening_setup(mic)
        self.settings = settings
        self.sound = Playback(self.post_message, player)
        self.link: Link = (link_factory or _default_link)(self)
        self.answer: Answer | None = None
        self.history = []
        self.chats = ChatLog(settings.store_path, self.post_message)
        self._pending: str | None = None
        self._stop_timer: Timer | None = None
        self.preferences = SettingsKeeper(
            self, settings.preferences, self.link, echo=settings.echo_cancellation
        )
        self.set_reactive(OutputMode.voice, not settings.text_only)
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
        self.open_chats(self.settings.continue_last)
        self.open_audio()
        self._run_link()
        self._ticker = self.set_interval(0.05, self._tick, pause=True)

    async def on_unmount(self) -> None:
        """Silence the speaker, close the microphone and stop the companion server."""
        self._ticker.stop()  # its widgets are going: no tick may look for them now
        self.close_listening()
        self.sound.close()
        await self.link.close()
        self.chats.close()

    @property
    def player(self) -> PlayerLike | None:
        """The player in use (or to open)."""
        return self.sound.player

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Enable keys as they apply; the others stay in the footer, dimmed."""
        applies = {
            "start": self.link_state == LinkState.CONNECTED,
            "talk": self.link_state == LinkState.CONNECTED
            and self.can_listen
            and self.state != ResponseState.STOPPING,
            "pause": self.state == ResponseState.STREAMING,
            "resume": self.state == ResponseState.PAUSED,
            "stop": self.state
            in (ResponseState.STREAMING, ResponseState.PAUSED, ResponseState.LISTENING),
            "pause_resume": self.state in (ResponseState.STREAMING, ResponseState.PAUSED),
            "toggle_mode": self.audio_ok,
            "new_chat": self.state == ResponseState.IDLE,
            "conversations": self.state == ResponseState.IDLE and self.chats.usable,
            "export_chat": self.chats.started,
        }.get(action, True)
        return True if applies else None

    def key_for(self, action: str) -> str:
        """How the key of binding ``action`` (its id) is shown (after any keymap change)."""
        return shown_keys(self).get(action, action)

    # -- workers ------------------------------------------------------------------------

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
        self.status.show_link(LinkState.CONNECTED, message.transport, error="")
        self.update_session()

    async def on_connection_session_started(self, message: Connection.SessionStarted) -> None:
        """Show which LLM and speech engine the server uses; re-seed a lost session."""
        self.status.llm, self.status.tts, self.status.demo = message.llm, message.tts, message.demo
        self.can_listen, self.deaf_because = message.listens, message.deaf_because
        self.push_to_talk = message.push_to_talk
        for transcript in self.query(TranscriptView):  # none once the app is closing
            transcript.greeting.about(message.llm, message.tts, message.demo)
        self.settings_for_session(message)
        if message.replaced:
            await self._end_answer(endings.FORGOTTEN)
        if self.take_unseeded() or message.replaced:
            # The new session starts empty: give it the conversation as the person saw it.
            self._send(*(conversation_item(role, text) for role, text in self.history))

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

    def on_connection_notice_arrived(self, message: Connection.NoticeArrived) -> None:
        """Information only (e.g. early turns left out): the answer is not failed."""
        self.notify(message.message, title="Conversation", timeout=10)

    async def on_connection_server_error(self, message: Connection.ServerError) -> None:
        """Say what went wrong, in the server's plain words."""
        if message.code in p.RACE_CODES:
            log.info("ignored a race: %s", message.message)
            return
        if message.code in p.NOTICE_CODES:
            # Information only (e.g. early turns left out): the answer is not failed.
            self.notify(message.message, title="Conversation", timeout=10)
            return
        answer = self.answer
        if message.code == p.ACTIVE_RESPONSE and answer is not None and answer.response_id is None:
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

    # -- actions --------------------------------------------------------------------------

    def action_start(self) -> None:
        """Send the prompt; an answer in progress is stopped first, then this one is sent."""
        # A priority key overtakes the keys typed just before it, which still wait in the
        # prompt's queue: read the prompt once it has taken them.
        # The prompt hands the work back to the app's own queue, so that server events are
        # not handled half-way through starting the answer.
        self.query_one(PromptBox).call_later(self.call_later, self._start)

    async def _start(self) -> None:
        if self.state == ResponseState.LISTENING:
            await self.action_talk()  # Enter while listening sends the spoken turn now
            return
        prompt = self.query_one(PromptBox)
        text = prompt.text.strip()
        if not text:
            self.notify("Type a question first.", severity="warning", timeout=3)
        elif self.state != ResponseState.IDLE:
            self._pending = prompt.take()
            self.notify("Stopping the current answer first…", timeout=2)
            await self.stop_answer()
        elif await self._send_prompt(text):
            prompt.take()

    def action_pause(self) -> None:
        """Silence within one audio block and hold the text; the server holds too."""
        if (answer := self.answer) is None:
            return
        self.sound.pause()
        self._send(*answer.pause_events())
        answer.turn.hold()
        answer.turn.set_mark("paused", f"‖ paused — {self.key_for('pause_resume')} resumes")
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

    async def action_pause_resume(self) -> None:
        """One key for both: pause while it plays, resume while paused."""
        if self.state == ResponseState.PAUSED:
            await self.action_resume()
        else:
            self.action_pause()

    def action_show_status(self) -> None:
        """The whole status line, in full (it is cut to one line on screen)."""
        self.notify(self.status.details(), title="Status", timeout=10)

    async def action_stop(self) -> None:
        """Silence at once, cancel, and keep only what was heard; or stop listening."""
        if self.state == ResponseState.LISTENING:
            self.cancel_listening()
        else:
            await self.stop_answer()

    # -- an answer's life -------------------------------------------------------------------

    async def _send_prompt(self, text: str) -> bool:
        if not self.link.connected:
            self.notify("Not connected to the server yet.", severity="error", timeout=4)
            return False
        await self.query_one(TranscriptView).add_user(text)
        await self._ask(text, p.user_text_item(text))
        return True

    async def ask_spoken(self, words: str) -> None:
        """Answer a spoken turn: the server already holds it, as an audio item."""
        await self._ask(words, spoken=True)

    async def _ask(self, text: str, *items: dict[str, Any], spoken: bool = False) -> None:
        """Start the answer to ``text``, written down first; ``items`` go before the request."""
        voice, sent_at = self.spoken, time.perf_counter()
        self.status.begin_answer()
        turn = await self.query_one(TranscriptView).add_assistant()
        generation = self.sound.begin(voice)
        # The answer exists before the request leaves, so no event of it can be missed.
        self.answer = Answer(turn, generation, voice, sent_at, create=response_create(voice))
        self.state = ResponseState.STREAMING
        self.overhear()  # hands-free with echo cancellation: talking over it stops it
        self._ticker.resume()
        self.history.append(("user", text))
        self.record_question(text, voice, spoken=spoken)
        self._send(*items, self.answer.create)

    async def stop_answer(self) -> None:
        """Silence at once, cancel the answer, and keep only what was heard."""
        if (answer := self.answer) is None:
            return
        heard = self.sound.stop(answer.audio_seen)  # what is still queued is never played
        self._send(*answer.stop_events(heard))
        ending, heard_text = answer.stopped(heard), self.heard_text(answer, heard)
        await self._end_answer(ending, settle=answer.done, heard=heard_text)
        if not answer.done:
            # Wait for the cancelled response's response.done before the next prompt.
            self.state = ResponseState.STOPPING
            self._stop_timer = self.set_timer(_STOP_GRACE_S, self._stop_timed_out)

    async def _stop_timed_out(self) -> None:
        if self.state == ResponseState.STOPPING:
            log.warning("no response.done within %.0f s of a cancel", _STOP_GRACE_S)
            await self._settle()

    async def _end_answer(
        self, ending: Ending, *, settle: bool = True, heard: str | None = None
    ) -> None:
        answer, self.answer = self.answer, None
        if answer is None:
            return
        self.status.language = ""
        self.record_answer(answer, ending, heard)
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
        elif not pending:
            self.after_answer()

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
        self.status.language = answer.language_at(played_ms)
        if self.state == ResponseState.STREAMING and answer.finished_playing(buffered_ms):
            await self._end_answer(answer.final)

    def _send(self, *events: dict[str, Any]) -> None:
        send_all(self.link, events)


def _default_link(app: Talkterm) -> Link:
    return make_link(app.settings, app.post_message)


def make_app(
    settings: Settings | None = None,
    *,
    player: PlayerLike | None = None,
    link_factory: Callable[[Talkterm], Link] | None = None,
    mic: MicrophoneLike | None = None,
) -> Talkterm:
    """Build the app for the CLI and the tests."""
    return Talkterm(settings or Settings(), player=player, link_factory=link_factory, mic=mic)
