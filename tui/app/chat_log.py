"""The conversation on screen, written down as it happens (the app's side of the store).

The question is handed to the store before it is sent and each answer as soon as it
ends, so a crash loses at most the answer in flight. Every store call runs on one
store thread, in the order it was made: another talkterm holding the database's write
lock for seconds (SQLite waits up to ``BUSY_TIMEOUT_MS``) never freezes the keys, and
quitting waits for what is queued to be written. A store that cannot be opened or
written never stops the app: the person is told once and the chat goes on unrecorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from textual.message import Message

from tui.states import Mark, model_in
from tui.store import NewTurn, Store, StoreError, Transcript, TurnStatus, export_file
from tui.widgets.transcript import TurnRecord

log = logging.getLogger("talkterm.chat_log")

T = TypeVar("T")

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
    """The model in the server's LLM label, as stored (the URL and any advice are not kept)."""
    return model_in(label) or None


def records_of(transcript: Transcript) -> list[TurnRecord]:
    """The stored turns as the transcript shows them."""
    records = []
    for turn in transcript.turns:
        mark = _MARK_OF.get(turn.status)
        text = f"🎤 {turn.remembered}" if turn.spoken else turn.remembered
        records.append(TurnRecord(turn.role, text, mark, _NOTES.get(turn.status, "")))
    return records


class ChatLog:
    """Creates the conversation on the first question and appends each turn as it ends."""

    @dataclass
    class Failed(Message):
        """Conversations stopped being saved; the reason in plain words (posted once)."""

        reason: str

    def __init__(self, path: Path, post: Callable[[Message], Any]) -> None:
        self.path = path
        self._post = post
        """How the store thread tells the app (``post_message`` is thread-safe)."""
        self.store: Store | None = None
        self.conversation_id: int | None = None
        """The conversation on screen (set on the store thread once it exists)."""
        self.started = False
        """A question of the conversation on screen has been handed to the store."""
        self.unseeded = False
        """The history of an opened chat still has to reach the server's session."""
        self._warned = False
        # One thread, so writes land in the order the person made them.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="talkterm-store")
        self._opened: Future[Any] | None = None

    def open(self) -> None:
        """Open the store (on the store thread); without it the chat goes on unrecorded."""
        self._opened = self._submit(self._open)

    @property
    def usable(self) -> bool:
        """Whether past conversations can be listed (the store is open, or still opening)."""
        return self.store is not None or (self._opened is not None and not self._opened.done())

    async def ready(self) -> Store | None:
        """The store once it is open (None: it could not be opened)."""
        if self._opened is not None:
            await asyncio.wrap_future(self._opened)
        return self.store

    def close(self) -> None:
        """Write what is queued, then close the store."""
        self._submit(self._close)
        self._thread.shutdown(wait=True)

    def asked(
        self,
        text: str,
        *,
        model: str | None,
        voice: str | None,
        settings: dict[str, Any] | None = None,
        spoken: bool = False,
    ) -> None:
        """Write a question down before it is sent; the first starts the conversation."""
        self.started = True
        question = NewTurn("user", text, spoken=spoken)
        self._submit(lambda: self._asked(question, model, voice, settings))

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
        turn = NewTurn(
            "assistant", text, _STATUS.get(mark, "interrupted"), heard, model, voice, *timings
        )
        self._submit(lambda: self._append(turn))

    def keep_settings(self, settings: dict[str, Any]) -> None:
        """The conversation on screen is held with ``settings`` from now on."""
        self._submit(lambda: self._keep_settings(settings))

    def new(self) -> None:
        """The next question starts a new conversation."""
        self.started, self.unseeded = False, False
        self._submit(lambda: setattr(self, "conversation_id", None))

    async def load(self, conversation_id: int | None = None) -> Transcript | None:
        """Continue a stored conversation (the most recent one when no id is given)."""
        transcript = await self._result(lambda: self._load(conversation_id))
        if transcript is not None:
            self.started, self.unseeded = True, bool(transcript.turns)
        return transcript

    async def export(self, directory: Path) -> Path:
        """Save the conversation on screen as Markdown in ``directory``; raises StoreError."""
        return await self._result(lambda: self._export(directory))

    # -- on the store thread ---------------------------------------------------------------

    def _submit(self, call: Callable[[], Any]) -> Future[Any] | None:
        try:
            return self._thread.submit(call)
        except RuntimeError:  # shut down: the app is quitting and has written everything
            log.warning("chat store already closed; a call was dropped")
            return None

    async def _result(self, call: Callable[[], T]) -> T:
        future = self._submit(call)
        if future is None:
            raise StoreError("the chat store is closed")
        return await asyncio.wrap_future(future)

    def _open(self) -> None:
        try:
            self.store = Store(self.path)
        except StoreError as exc:
            self._failed(exc)

    def _close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def _asked(
        self,
        question: NewTurn,
        model: str | None,
        voice: str | None,
        settings: dict[str, Any] | None,
    ) -> None:
        if self.store is None:
            return
        try:
            if self.conversation_id is None:
                self.conversation_id = self.store.create_conversation(
                    model=model, voice=voice, settings=settings
                )
            self.store.append_turn(self.conversation_id, question)
        except StoreError as exc:
            self._failed(exc)

    def _append(self, turn: NewTurn) -> None:
        if self.store is None or self.conversation_id is None:
            return
        try:
            self.store.append_turn(self.conversation_id, turn)
        except StoreError as exc:
            self._failed(exc)

    def _keep_settings(self, settings: dict[str, Any]) -> None:
        if self.store is None or self.conversation_id is None:
            return  # the first question stores them with the new conversation
        try:
            self.store.set_settings(self.conversation_id, settings)
        except StoreError as exc:
            self._failed(exc)

    def _load(self, conversation_id: int | None) -> Transcript | None:
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
        return transcript

    def _export(self, directory: Path) -> Path:
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
            self._post(ChatLog.Failed(f"Conversations are not being saved: {exc}"))
