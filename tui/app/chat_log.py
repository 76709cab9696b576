"""The conversation on screen, written down as it happens (the app's side of the store).

The question is written before it is sent and each answer as soon as it ends, so a
crash loses at most the answer in flight. A store that cannot be opened or written
never stops the app: the person is told once and the chat goes on unrecorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui.states import Mark
from tui.store import NewTurn, Store, StoreError, Transcript, TurnStatus, export_file
from tui.widgets.transcript import TurnRecord

log = logging.getLogger("talkterm.chat_log")

# How the app marks an ending answer → how the store records it.
_STATUS: dict[Mark | None, TurnStatus] = {
    None: "complete",
    "stopped": "stopped",
    "interrupted": "interrupted",
    "failed": "failed",
    "incomplete": "incomplete",
}
_MARK_OF: dict[TurnStatus, Mark | None] = {status: mark for mark, status in _STATUS.items()}
_NOTES: dict[str, str] = {
    "stopped": "■ stopped — only what was heard is kept",
    "interrupted": "↯ interrupted",
    "failed": "✗ failed",
    "incomplete": "■ cut short by the server",
}


def model_name(label: str) -> str | None:
    """The model in the server's LLM label ("llama3.2 at http://…"): the URL is not kept."""
    return label.split(" at ", 1)[0].strip() or None


def records_of(transcript: Transcript) -> list[TurnRecord]:
    """The stored turns as the transcript shows them."""
    records = []
    for turn in transcript.turns:
        mark = _MARK_OF.get(turn.status)
        records.append(TurnRecord(turn.role, turn.remembered, mark, _NOTES.get(turn.status, "")))
    return records


class ChatLog:
    """Creates the conversation on the first question and appends each turn as it ends."""

    def __init__(self, path: Path, warn: Callable[[str], None]) -> None:
        self.path = path
        self._warn = warn
        self.store: Store | None = None
        self.conversation_id: int | None = None
        self.unseeded = False
        """The history of an opened chat still has to reach the server's session."""
        self._warned = False

    def open(self) -> None:
        """Open the store; without it the chat goes on unrecorded."""
        try:
            self.store = Store(self.path)
        except StoreError as exc:
            self._failed(exc)

    def close(self) -> None:
        """Close the store."""
        if self.store is not None:
            self.store.close()
            self.store = None

    def asked(
        self,
        text: str,
        *,
        model: str | None,
        voice: str | None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Write a question down before it is sent; the first starts the conversation."""
        if self.store is None:
            return
        try:
            if self.conversation_id is None:
                self.conversation_id = self.store.create_conversation(
                    model=model, voice=voice, settings=settings
                )
            self.store.append_turn(self.conversation_id, NewTurn("user", text))
        except StoreError as exc:
            self._failed(exc)

    def answered(
        self,
        text: str,
        mark: Mark | None,
        *,
        heard: str | None = None,
        model: str | None = None,
        voice: str | None = None,
        timings: tuple[float | None, float | None] = (None, None),
    ) -> None:
        """Write an answer down as it ends: stopped, interrupted, failed or complete."""
        if self.store is None or self.conversation_id is None:
            return
        turn = NewTurn(
            "assistant", text, _STATUS.get(mark, "interrupted"), heard, model, voice, *timings
        )
        try:
            self.store.append_turn(self.conversation_id, turn)
        except StoreError as exc:
            self._failed(exc)

    def keep_settings(self, settings: dict[str, Any]) -> None:
        """The conversation on screen is held with ``settings`` from now on."""
        if self.store is None or self.conversation_id is None:
            return  # the first question stores them with the new conversation
        try:
            self.store.set_settings(self.conversation_id, settings)
        except StoreError as exc:
            self._failed(exc)

    def new(self) -> None:
        """The next question starts a new conversation."""
        self.conversation_id, self.unseeded = None, False

    def load(self, conversation_id: int | None = None) -> Transcript | None:
        """Continue a stored conversation (the most recent one when no id is given)."""
        if self.store is None:
            return None
        try:
            transcript = (
                self.store.last() if conversation_id is None else self.store.load(conversation_id)
            )
        except StoreError as exc:
            self._failed(exc)
            return None
        if transcript is not None:
            self.conversation_id = transcript.conversation.id
            self.unseeded = bool(transcript.turns)
        return transcript

    def export(self, directory: Path) -> Path:
        """Save the conversation on screen as Markdown in ``directory``; raises StoreError."""
        if self.store is None or self.conversation_id is None:
            raise StoreError("there is nothing to export yet")
        try:
            return export_file(self.store, self.conversation_id, directory)
        except OSError as exc:
            raise StoreError(f"cannot write the export: {exc}") from exc

    def _failed(self, exc: StoreError) -> None:
        log.warning("chat store: %s", exc)
        if not self._warned:
            self._warned = True
            self._warn(f"Conversations are not being saved: {exc}")
