"""The chat store: conversations and turns in one SQLite file.

Two talkterm instances may share the file. WAL lets one read while the other
writes; every write is one short ``BEGIN IMMEDIATE`` transaction (the write lock
is taken up front, so two writers queue on ``busy_timeout`` instead of failing
with a lock upgrade). ``synchronous=NORMAL`` in WAL mode survives a killed
process; only a power cut can lose the last transactions.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from tui.errors import TalktermAppError
from tui.store.records import (
    Conversation,
    NewTurn,
    Role,
    Transcript,
    Turn,
    TurnStatus,
    settings_json,
)
from tui.store.schema import SchemaTooNew, migrate

BUSY_TIMEOUT_MS = 5000
TITLE_CHARS = 80


class StoreError(TalktermAppError):
    """The chat store could not be opened, read or written."""


class ConversationNotFound(StoreError):
    """No conversation has the id asked for (or there is none at all)."""


def now() -> str:
    """The current time as stored: ISO 8601 in UTC, which sorts as text."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def title_from(question: str) -> str:
    """A conversation's title: the first line of its first question, shortened."""
    line = " ".join(question.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL, waiting out another instance doing the same on a new file.

    SQLite answers a journal-mode change that meets another connection's lock with
    "database is locked" at once, without its busy handler (seen with two app instances
    started together on a store that did not exist yet), so the wait is ours.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Store:
    """Conversations and their turns, kept in SQLite."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are ours, explicit and short. The app writes from
            # its store thread and reads on the UI thread: one lock serialises the two.
            self._lock = threading.RLock()
            self._db = sqlite3.connect(
                str(path), isolation_level=None, timeout=0, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _use_wal(self._db)
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            migrate(self._db)
        except (sqlite3.Error, OSError, SchemaTooNew) as exc:
            raise StoreError(f"cannot open the chat store {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------

    def create_conversation(
        self,
        title: str = "",
        *,
        model: str | None = None,
        voice: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> int:
        """A new, empty conversation; its id. An empty title comes from the first question."""
        stamp = now()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, created, updated, model, voice, settings)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (title_from(title), stamp, stamp, model, voice, settings_json(settings)),
            )
        return int(cast(int, cursor.lastrowid))

    def append_turn(self, conversation_id: int, turn: NewTurn) -> Turn:
        """Write a finished turn at the end of a conversation, at once."""
        stamp = now()
        with self._write() as db:
            self._require(db, conversation_id)
            row = db.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM turns WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
            position = int(row[0])
            db.execute(
                "INSERT INTO turns (conversation_id, position, role, text, at, status, heard,"
                " model, voice, first_text_ms, first_audio_ms, spoken)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id, position, turn.role, turn.text, stamp, turn.status,
                    turn.heard, turn.model, turn.voice, turn.first_text_ms, turn.first_audio_ms,
                    int(turn.spoken),
                ),
            )  # fmt: skip
            db.execute(
                "UPDATE conversations SET updated = ?,"
                " title = CASE WHEN title = '' AND ? = 'user' THEN ? ELSE title END,"
                " model = COALESCE(?, model), voice = COALESCE(?, voice) WHERE id = ?",
                (stamp, turn.role, title_from(turn.text), turn.model, turn.voice, conversation_id),
            )
        return Turn(
            conversation_id, position, turn.role, turn.text, stamp, turn.status, turn.heard,
            turn.model, turn.voice, turn.first_text_ms, turn.first_audio_ms, turn.spoken,
        )  # fmt: skip

    def rename(self, conversation_id: int, title: str) -> None:
        """Give a conversation another title."""
        with self._write() as db:
            self._require(db, conversation_id)
            db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?",
                (title_from(title), conversation_id),
            )

    def set_settings(self, conversation_id: int, settings: dict[str, Any]) -> None:
        """Remember the choices made for a conversation (model, voice, rate…)."""
        with self._write() as db:
            self._require(db, conversation_id)
            db.execute(
                "UPDATE conversations SET settings = ? WHERE id = ?",
                (settings_json(settings), conversation_id),
            )

    def delete(self, conversation_id: int) -> None:
        """Forget a conversation and all its turns."""
        with self._write() as db:
            self._require(db, conversation_id)
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # -- reading ----------------------------------------------------------------------

    def conversations(self, limit: int | None = None) -> list[Conversation]:
        """Every conversation, the most recently used first."""
        rows = self._read(
            _CONVERSATIONS + " ORDER BY c.updated DESC, c.id DESC LIMIT ?",
            (-1 if limit is None else limit,),
        )
        return [_conversation(row) for row in rows]

    def conversation(self, conversation_id: int) -> Conversation:
        """One conversation's row."""
        rows = self._read(_CONVERSATIONS + " WHERE c.id = ?", (conversation_id,))
        if not rows:
            raise ConversationNotFound(f"there is no conversation {conversation_id}")
        return _conversation(rows[0])

    def load(self, conversation_id: int) -> Transcript:
        """A conversation with its turns in order."""
        conversation = self.conversation(conversation_id)
        rows = self._read(
            "SELECT * FROM turns WHERE conversation_id = ? ORDER BY position", (conversation_id,)
        )
        return Transcript(conversation, [_turn(row) for row in rows])

    def last(self) -> Transcript | None:
        """The most recently used conversation, if there is one."""
        latest = self.conversations(limit=1)
        return self.load(latest[0].id) if latest else None

    # -- plumbing ---------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, holding the write lock from its start."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"the chat store is not writable: {exc}") from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"could not write to the chat store: {exc}") from exc
                raise

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"could not read the chat store: {exc}") from exc

    @staticmethod
    def _require(db: sqlite3.Connection, conversation_id: int) -> None:
        if db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone():
            return
        raise ConversationNotFound(f"there is no conversation {conversation_id}")


_CONVERSATIONS = (
    "SELECT c.*, (SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id) AS turn_count"
    " FROM conversations c"
)


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        created=row["created"],
        updated=row["updated"],
        turn_count=row["turn_count"],
        model=row["model"],
        voice=row["voice"],
        settings=json.loads(row["settings"] or "{}"),
    )


def _turn(row: sqlite3.Row) -> Turn:
    return Turn(
        conversation_id=row["conversation_id"],
        index=row["position"],
        role=cast(Role, row["role"]),
        text=row["text"],
        at=row["at"],
        status=cast(TurnStatus, row["status"]),
        heard=row["heard"],
        model=row["model"],
        voice=row["voice"],
        first_text_ms=row["first_text_ms"],
        first_audio_ms=row["first_audio_ms"],
        spoken=bool(row["spoken"]),
    )
