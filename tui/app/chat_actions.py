"""The app's conversation actions: new chat, the list, export, and writing turns down.

``ChatActions`` is the part of the app that speaks to the store (through ``ChatLog``):
the question is written before it is sent, each answer as it ends, and an opened chat
is shown and its history handed to the next server session. Each conversation keeps
the settings it is held with: saved ones are stored with it, and opening it takes
them back.
"""

from __future__ import annotations

from pathlib import Path

from tui.app.answer import Answer, Ending
from tui.app.chat_log import ChatLog, model_name, records_of
from tui.app.settings_keeper import SettingsKeeper
from tui.app.status_access import StatusAccess
from tui.heard import heard_prefix
from tui.link import Link
from tui.preferences import Preferences
from tui.screens.conversations import ConversationsScreen
from tui.store import StoreError
from tui.widgets.transcript import TranscriptView, TurnRecord


class ChatActions(StatusAccess):
    """Conversations that last: what the app does with the chat store."""

    chats: ChatLog
    link: Link
    history: list[tuple[str, str]]
    """(role, text) of every finished turn, to seed a session that starts empty."""
    preferences: SettingsKeeper

    def open_chats(self, continue_last: bool) -> None:
        """Open the store (on mount); reopen the last conversation when asked to."""
        self.chats.open()
        self.preferences.on_saved.append(self._keep_settings)
        if continue_last:
            self.call_later(self._open_chat, None)

    def record_question(self, text: str, voice: bool, *, spoken: bool = False) -> None:
        """Write the question down before it is sent: a crash from then on still keeps it."""
        chosen = self.preferences.current.to_dict()
        self.chats.asked(
            text, model=self._model(), voice=self._voice_name(voice), settings=chosen, spoken=spoken
        )

    def record_answer(self, answer: Answer, ending: Ending, heard: str | None) -> None:
        """Write an answer down as it ends (``heard``: the part heard, for a stopped one)."""
        if remembered := (answer.turn.text if heard is None else heard):
            self.history.append(("assistant", remembered))
        self.chats.answered(
            answer.turn.text,
            ending.mark,
            heard=heard,
            model=self._model(),
            voice=self._voice_name(answer.voice),
            timings=(answer.first_text_ms, answer.first_audio_ms),
        )

    def heard_text(self, answer: Answer, heard_ms: float) -> str | None:
        """What of a stopped answer was heard (None: text only, the whole text counts)."""
        # Text-only, or nothing heard yet: the server keeps the text as shown, and so do we.
        if not answer.audio_seen:
            return None
        span = answer.span_at(heard_ms)
        return heard_prefix(answer.turn.text, span, heard_ms, answer.pcm_ms)

    def take_unseeded(self) -> bool:
        """Whether an opened chat's history still has to reach the server (asked once)."""
        unseeded, self.chats.unseeded = self.chats.unseeded, False
        return unseeded

    # -- actions --------------------------------------------------------------------------

    async def action_new_chat(self) -> None:
        """Start a new conversation: an empty transcript and a fresh server session."""
        self.chats.new()
        self.preferences.adopt(None)
        await self._show_chat([], [])

    async def action_conversations(self) -> None:
        """Show the stored conversations; the one picked is opened."""
        store = await self.chats.ready()
        if store is None:
            return

        async def picked(conversation_id: int | None) -> None:
            if conversation_id is not None:
                await self._open_chat(conversation_id)

        self.push_screen(ConversationsScreen(store, self.chats.conversation_id), picked)

    async def action_export_chat(self) -> None:
        """Write the conversation on screen to a Markdown file in the current directory."""
        try:
            where = await self.chats.export(Path.cwd())
            self.notify(f"Saved to {where}", title="Export", timeout=6)
        except StoreError as exc:
            self.notify(str(exc), title="Export", severity="error")

    # -- helpers ----------------------------------------------------------------------------

    async def _open_chat(self, conversation_id: int | None) -> None:
        """Continue a stored conversation (None: the most recent one)."""
        transcript = await self.chats.load(conversation_id)
        if transcript is None:
            return
        # The history and the settings reach the server when its next session starts.
        self.preferences.adopt(transcript.conversation.settings)
        await self._show_chat(records_of(transcript), transcript.history())

    async def _show_chat(self, records: list[TurnRecord], history: list[tuple[str, str]]) -> None:
        await self.query_one(TranscriptView).replace(records)
        self.history = history
        if self.link.connected or self.link.resumable:
            await self.link.new_session()

    def _keep_settings(self, chosen: Preferences) -> None:
        self.chats.keep_settings(chosen.to_dict())

    def _model(self) -> str | None:
        return model_name(self.status.llm)

    def _voice_name(self, spoken: bool) -> str | None:
        # An answer can end while the app is closing, after its widgets are gone: the turn
        # is still recorded, only without the labels (the detached status line has none).
        return (self.status.tts or None) if spoken else None

    def on_chat_log_failed(self, message: ChatLog.Failed) -> None:
        """Say once that conversations are not being saved."""
        self.notify(message.reason, title="Conversations", severity="warning", timeout=8)
