"""talkterm: type a question, read the answer as it is written and hear it spoken.

The app is the only place that changes widgets. The link worker posts what the
server said (``Connection.*`` messages); the audio thread decodes and feeds the
player (``AudioFeed``); a 50 ms tick moves the highlight with the playback
position. Every answer gets a new *generation*: audio of an older one is
dropped before it reaches the speaker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Footer

from server import protocol as p
from tui.answer import Answer, conversation_item, response_create, session_update
from tui.audio_feed import AudioFeed, PlayerLike, QuietCollector, open_player
from tui.chat_log import ChatLog, heard_part, model_name, records_of
from tui.commands import TalktermCommands
from tui.config import Settings
from tui.connection import Connection, Link, NotConnected
from tui.screens.conversations import ConversationsScreen
from tui.store import StoreError
from tui.widgets.prompt_box import PromptBox
from tui.widgets.status_line import StatusLine
from tui.widgets.transcript import TranscriptView, TurnRecord

log = logging.getLogger("talkterm.app")

# Errors that only mean a control event raced the end of its response.
_RACES = {"response_cancel_not_active", "response_pause_not_active", "response_resume_not_active"}
_BUSY = "conversation_already_has_active_response"
_STOP_GRACE_S = 3.0


def _key(key: str, action: str, description: str, tooltip: str, *, show: bool = True) -> Binding:
    """A priority binding whose id is its action, so the config keymap can move it."""
    return Binding(key, action, description, show, id=action, priority=True, tooltip=tooltip)


class Talkterm(App[None], inherit_bindings=False):
    """The talkterm terminal app."""

    CSS_PATH = "app.tcss"
    TITLE = "talkterm"
    COMMANDS = App.COMMANDS | {TalktermCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        _key("ctrl+j", "start", "Send", "Send the prompt (an answer in progress is stopped first)"),
        _key("ctrl+o", "pause", "Pause", "Pause speech and text at once"),
        _key("ctrl+r", "resume", "Resume", "Carry on from the word where you paused"),
        _key("ctrl+g", "stop", "Stop", "Stop the answer; it keeps only what you heard"),
        _key("ctrl+t", "toggle_mode", "Voice/Text", "Switch between spoken and text-only answers"),
        # Not in the footer, which is full at 110 columns; the palette lists them with their keys.
        _key("ctrl+n", "new_chat", "New", "Start a new conversation", show=False),
        _key("ctrl+l", "conversations", "Chats", "Open, rename or delete chats", show=False),
        _key("ctrl+q", "quit", "Quit", "Quit talkterm"),
        # Textual's own: ctrl+c copies in the prompt, elsewhere it says how to quit.
        Binding("ctrl+c", "help_quit", show=False, system=True),
    ]

    state: reactive[str] = reactive("idle", bindings=True)
    """idle, streaming, paused or stopping."""
    link_state: reactive[str] = reactive("connecting", bindings=True)
    """starting, connecting, connected, reconnecting or refused."""
    voice: reactive[bool] = reactive(True, bindings=True)
    """Whether answers are spoken (False: text only)."""
    audio_ok: reactive[bool] = reactive(False, bindings=True)
    """Whether an output device is open."""

    def __init__(
        self,
        settings: Settings,
        *,
        player: PlayerLike | None = None,
        link_factory: Callable[[Talkterm], Link] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.player = player
        self.feed = AudioFeed(self.post_message)
        self.collector = QuietCollector()
        self.link: Link = (link_factory or _default_link)(self)
        self.answer: Answer | None = None
        self.history: list[tuple[str, str]] = []
        """(role, text) of every finished turn, to re-seed a session the server lost."""
        self.generation = 0
        self._pending: str | None = None
        self._retry_at: float | None = None
        self._stop_timer: Timer | None = None
        self.chats = ChatLog(settings.store_path, self._store_warning)
        self.set_reactive(Talkterm.voice, not settings.text_only)
        self.set_keymap(settings.keymap)

    def compose(self) -> ComposeResult:
        """Status line, transcript, prompt, footer."""
        yield StatusLine()
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
        self.feed.start(lambda: self.player if self.audio_ok else None)
        self.collector.start()
        self.chats.open()
        if self.settings.continue_last:
            self.call_later(self._open_chat, None)
        self._open_audio()
        self._run_link()
        self.set_interval(0.05, self._tick)

    async def on_unmount(self) -> None:
        """Silence the speaker and stop the companion server."""
        self.feed.close()
        self.collector.stop()
        if self.player is not None:
            self.player.close()
        await self.link.close()
        self.chats.close()

    @property
    def status(self) -> StatusLine:
        """The status line widget."""
        return self.query_one(StatusLine)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Enable keys as they apply; the others stay in the footer, dimmed."""
        applies = {
            "start": self.link_state == "connected",
            "pause": self.state == "streaming",
            "resume": self.state == "paused",
            "stop": self.state in ("streaming", "paused"),
            "toggle_mode": self.audio_ok,
            "new_chat": self.state == "idle",
            "conversations": self.state == "idle" and self.chats.store is not None,
            "export_chat": self.chats.conversation_id is not None,
        }.get(action, True)
        return True if applies else None

    def key_for(self, action: str) -> str:
        """How the key bound to ``action`` is shown (after any keymap change)."""
        for active in self.screen_stack[0].active_bindings.values():
            if active.binding.action == action:
                return self.get_key_display(active.binding)
        return action

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
        self._retry_at = None
        starting = message.url is None and not self.settings.server
        self.link_state = "starting" if starting else "connecting"
        self.status.show_link(self.link_state)

    def on_connection_connected(self, message: Connection.Connected) -> None:
        """Handshake done: ask for binary audio and the current output mode."""
        self.link_state = "connected"
        self.status.show_link("connected", error="")
        self._update_session()

    async def on_connection_session_started(self, message: Connection.SessionStarted) -> None:
        """Show which LLM and speech engine the server uses; re-seed a lost session."""
        self.status.llm = f"{message.llm} (demo)" if message.demo else message.llm
        self.status.tts = message.tts
        if message.replaced:
            note = "↯ interrupted: the server no longer had this conversation"
            await self._end_answer("interrupted", note)
        if message.replaced or self.chats.unseeded:
            # The new session starts empty: give it the conversation as the person saw it.
            self.chats.unseeded = False
            self._send(*(conversation_item(role, text) for role, text in self.history))

    def on_connection_session_resumed(self, message: Connection.SessionResumed) -> None:
        """Back in the same session: the answer carries on where it was cut."""
        if self.answer is not None:
            self.answer.turn.set_mark("paused" if self.state == "paused" else None)

    async def on_connection_lost(self, message: Connection.Lost) -> None:
        """Say when the next attempt is; an answer waits for the session to resume."""
        self.link_state = "reconnecting"
        self._retry_at = time.monotonic() + message.retry_in
        reason = message.reason[:1].upper() + message.reason[1:] + "."
        self.status.show_link("reconnecting", f"in {message.retry_in:.0f} s", reason)
        if getattr(self.link, "resumable", False):
            # Audio already here keeps playing; the rest follows when the session resumes.
            if self.answer is not None:
                self.answer.turn.set_mark("interrupted", "↯ connection lost — resuming…")
            return
        self._pending = None
        await self._end_answer("interrupted", "↯ interrupted: the connection was lost")

    async def on_connection_auth_refused(self, message: Connection.AuthRefused) -> None:
        """Final: there is no retry loop for a refused token."""
        self.link_state = "refused"
        self.status.show_link("auth refused", error=message.reason)
        self.notify(message.reason, title="Auth refused", severity="error", timeout=10)
        await self._end_answer("interrupted", "↯ interrupted: the server refused the token")

    def on_connection_response_started(self, message: Connection.ResponseStarted) -> None:
        """Adopt the id: every later event of the answer carries it."""
        self._answer_for(message.response_id)

    def on_connection_item_started(self, message: Connection.ItemStarted) -> None:
        """Remember the item to truncate if the person stops the answer."""
        if answer := self._answer_for(message.response_id):
            answer.item_id = message.item_id

    async def on_connection_text_arrived(self, message: Connection.TextArrived) -> None:
        """Stream text into the answer."""
        if answer := self._answer_for(message.response_id):
            if not answer.turn.text and not self.settings.snapshot_mode:
                self.status.first_text_ms = (time.perf_counter() - answer.sent_at) * 1000
            answer.turn.write(message.delta)

    def on_connection_segment_announced(self, message: Connection.SegmentAnnounced) -> None:
        """A sentence's audio follows: note where it starts, for the highlight."""
        if (answer := self._answer_for(message.response_id)) and answer.voice:
            answer.add_segment(message.audio_start_ms, message.char_start, message.char_end)
            self.feed.segment(answer.generation, message.format)

    def on_connection_audio_arrived(self, message: Connection.AudioArrived) -> None:
        """Hand audio to the decoding thread; it is never decoded here."""
        if (answer := self._answer_for(message.response_id)) and answer.voice:
            if not answer.audio_seen and not self.settings.snapshot_mode:
                self.status.first_audio_ms = (time.perf_counter() - answer.sent_at) * 1000
            answer.audio_seen = True
            self.feed.audio(answer.generation, message.audio)

    async def on_connection_response_finished(self, message: Connection.ResponseFinished) -> None:
        """The server is done with a response; its audio may still be playing."""
        if self.state == "stopping" and self.answer is None:
            await self._settle()
            return
        answer = self._answer_for(message.response_id)
        if answer is None:
            return
        answer.done = True
        self.feed.end(answer.generation)
        if message.status == "failed":
            note = f"✗ failed: {answer.error}" if answer.error else "✗ failed"
            await self._end_answer("failed", note, silence=True)
        elif message.status in ("cancelled", "incomplete"):
            mark = "stopped" if message.status == "cancelled" else "incomplete"
            await self._end_answer(mark, f"■ {message.status} by the server", silence=True)
        elif answer.finished_playing(0.0):
            await self._end_answer(None, "")

    async def on_connection_server_error(self, message: Connection.ServerError) -> None:
        """Say what went wrong, in the server's plain words."""
        if message.code in _RACES:
            log.info("ignored a race: %s", message.message)
            return
        answer = self.answer
        if message.code == _BUSY and answer is not None and answer.response_id is None:
            # The server may still be closing the answer we cancelled: ask again, briefly.
            if answer.retries < 3:
                answer.retries += 1
                self.set_timer(0.1 * answer.retries, lambda: self._ask_again(answer))
                return
            await self._end_answer("failed", f"✗ {message.message}")
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

    def on_audio_feed_opened(self, message: AudioFeed.Opened) -> None:
        """Sound works: voice mode is possible."""
        self.player = message.player
        self.audio_ok = True
        self.status.audio_note = ""
        self._update_session()

    def on_audio_feed_missing(self, message: AudioFeed.Missing) -> None:
        """No sound: say so, and ask the server for text only."""
        self.audio_ok = False
        self.status.audio_note = "no audio device — text only"
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
        elif self.state != "idle":
            self._pending = prompt.take()
            self.notify("Stopping the current answer first…", timeout=2)
            await self._stop_answer()
        elif await self._send_prompt(text):
            prompt.take()

    def action_pause(self) -> None:
        """Silence within one audio block and hold the text; the server holds too."""
        if (answer := self.answer) is None:
            return
        if self.player is not None:
            self.player.pause()
        self._send(*answer.pause_events())
        answer.turn.hold()
        answer.turn.set_mark("paused", f"‖ paused — {self.key_for('resume')} resumes")
        self.state = "paused"

    async def action_resume(self) -> None:
        """Carry on from the exact sample and word."""
        if (answer := self.answer) is None:
            return
        if self.player is not None:
            self.player.resume()
        self._send(*answer.resume_events())
        answer.turn.set_mark(None)
        self.state = "streaming"
        await answer.turn.release()

    async def action_stop(self) -> None:
        """Silence at once, cancel, and keep only what was heard."""
        await self._stop_answer()

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
        self.status.error = ""
        self.status.first_text_ms = self.status.first_audio_ms = None
        transcript = self.query_one(TranscriptView)
        await transcript.add_user(text)
        turn = await transcript.add_assistant()
        self.generation += 1
        self.feed.generation = self.generation
        if self.player is not None and voice:
            self.player.begin(self.generation)
        # The answer exists before the request leaves, so no event of it can be missed.
        self.answer = Answer(turn, self.generation, voice, sent_at, create=response_create(voice))
        self.state = "streaming"
        self.history.append(("user", text))
        # Written down before it is sent: a crash from here on still keeps the question.
        self.chats.asked(text, model=model_name(self.status.llm), voice=self._voice_name(voice))
        self._send(p.user_text_item(text), self.answer.create)
        return True

    async def _stop_answer(self) -> None:
        if (answer := self.answer) is None:
            return
        heard = self.player.stop() if self.player is not None and answer.audio_seen else 0.0
        # A new generation: whatever of this answer is still queued is never played.
        self.generation += 1
        self.feed.generation = self.generation
        self._send(*answer.stop_events(heard))
        note = (
            f"■ stopped after {heard / 1000:.1f} s of speech" if answer.audio_seen else "■ stopped"
        )
        # Text-only, or nothing heard yet: the server keeps the text as shown, and so do we.
        span = answer.span_at(heard)
        heard_text = heard_part(answer.turn.text, span) if answer.audio_seen else None
        await self._end_answer("stopped", note, settle=answer.done, heard=heard_text)
        if not answer.done:
            # Wait for the cancelled response's response.done before the next prompt.
            self.state = "stopping"
            self._stop_timer = self.set_timer(_STOP_GRACE_S, self._stop_timed_out)

    async def _stop_timed_out(self) -> None:
        if self.state == "stopping":
            log.warning("no response.done within %.0f s of a cancel", _STOP_GRACE_S)
            await self._settle()

    async def _end_answer(
        self,
        mark: str | None,
        note: str,
        *,
        settle: bool = True,
        silence: bool = False,
        heard: str | None = None,
    ) -> None:
        answer, self.answer = self.answer, None
        if answer is None:
            return
        if remembered := (answer.turn.text if heard is None else heard):
            self.history.append(("assistant", remembered))
        self.chats.answered(
            answer.turn.text,
            mark,
            heard=heard,
            model=model_name(self.status.llm),
            voice=self._voice_name(answer.voice),
            timings=(self.status.first_text_ms, self.status.first_audio_ms),
        )
        if self.player is not None and (silence or mark == "interrupted") and answer.audio_seen:
            self.player.stop()
        answer.turn.clear_highlight()
        answer.turn.set_mark(mark, note)
        await answer.turn.finish()
        if settle:
            await self._settle()

    async def _settle(self) -> None:
        """Back to idle; send a prompt that waited for the previous answer to stop."""
        self.state = "idle"
        if self._stop_timer is not None:
            self._stop_timer.stop()
            self._stop_timer = None
        self.collector.between_answers()
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
        if self._retry_at is not None and self.link_state == "reconnecting":
            self.status.link_detail = f"in {max(0, round(self._retry_at - time.monotonic()))} s"
        answer = self.answer
        if answer is None or self.player is None or not answer.audio_seen:
            return
        if span := answer.span_at(self.player.played_ms):
            answer.turn.highlight(*span)
        if self.state == "streaming" and answer.finished_playing(self.player.buffered_ms):
            await self._end_answer(None, "")

    # -- conversations ----------------------------------------------------------------------

    async def action_new_chat(self) -> None:
        """Start a new conversation: an empty transcript and a fresh server session."""
        self.chats.new()
        await self._show_chat([], [])

    def action_conversations(self) -> None:
        """Show the stored conversations; the one picked is opened."""
        if self.chats.store is None:
            return

        async def picked(conversation_id: int | None) -> None:
            if conversation_id is not None:
                await self._open_chat(conversation_id)

        self.push_screen(ConversationsScreen(self.chats.store, self.chats.conversation_id), picked)

    def action_export_chat(self) -> None:
        """Write the conversation on screen to a Markdown file in the current directory."""
        try:
            self.notify(f"Saved to {self.chats.export(Path.cwd())}", title="Export", timeout=6)
        except StoreError as exc:
            self.notify(str(exc), title="Export", severity="error")

    async def _open_chat(self, conversation_id: int | None) -> None:
        """Continue a stored conversation (None: the most recent one)."""
        transcript = self.chats.load(conversation_id)
        if transcript is None:
            return
        # The history reaches the server when its next session starts (chats.unseeded).
        await self._show_chat(records_of(transcript), transcript.history())

    async def _show_chat(self, records: list[TurnRecord], history: list[tuple[str, str]]) -> None:
        await self.query_one(TranscriptView).replace(records)
        self.history = history
        if self.link.connected or getattr(self.link, "resumable", False):
            await self.link.new_session()

    def _voice_name(self, spoken: bool) -> str | None:
        return (self.status.tts or None) if spoken else None

    def _store_warning(self, text: str) -> None:
        self.notify(text, title="Conversations", severity="warning", timeout=8)

    # -- helpers ----------------------------------------------------------------------------

    def _send(self, *events: dict[str, Any]) -> None:
        for event in events:
            try:
                self.link.send(event)
            except NotConnected:
                log.info("not connected; dropped %s", event["type"])

    def _update_session(self) -> None:
        self.status.mode = "voice" if self.voice and self.audio_ok else "text"
        if self.link.connected:
            self._send(session_update(self.voice and self.audio_ok))

    def watch_state(self, state: str) -> None:
        """Show the response state."""
        if self.is_mounted:
            self.status.state = state


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
