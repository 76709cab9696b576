"""The store's schema, one migration step per version (``PRAGMA user_version``).

Steps are only ever appended: a database at version N runs steps N+1… in one
transaction, so a crash mid-migration leaves it at N, and two instances starting
at once migrate it exactly once (the second finds the version already moved on).
"""

from __future__ import annotations

import sqlite3

from tui.errors import TalktermAppError

MIGRATIONS: list[str] = [
    # 1: conversations and their turns.
    """
    CREATE TABLE conversations (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        title    TEXT NOT NULL DEFAULT '',
        created  TEXT NOT NULL,
        updated  TEXT NOT NULL,
        model    TEXT,
        voice    TEXT,
        settings TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE turns (
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        position        INTEGER NOT NULL,
        role            TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        text            TEXT NOT NULL,
        at              TEXT NOT NULL,
        status          TEXT NOT NULL DEFAULT 'complete',
        heard           TEXT,
        model           TEXT,
        voice           TEXT,
        PRIMARY KEY (conversation_id, position)
    );
    """,
    # 2: latency figures per answer, and the list's order without a table scan.
    """
    ALTER TABLE turns ADD COLUMN first_text_ms REAL;
    ALTER TABLE turns ADD COLUMN first_audio_ms REAL;
    CREATE INDEX conversations_by_updated ON conversations(updated DESC, id DESC);
    """,
    # 3: questions that were spoken (f4) rather than typed.
    """
    ALTER TABLE turns ADD COLUMN spoken INTEGER NOT NULL DEFAULT 0;
    """,
]

VERSION = len(MIGRATIONS)


class SchemaTooNew(TalktermAppError):
    """The database was written by a newer talkterm than this one."""


def version(db: sqlite3.Connection) -> int:
    """The schema version a database is at (0: empty)."""
    row = db.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(db: sqlite3.Connection, target: int = VERSION) -> int:
    """Bring the schema up to ``target``; return the version it was at before."""
    # IMMEDIATE takes the write lock now: a second instance waits here (busy_timeout)
    # and then sees the version this one reached.
    db.execute("BEGIN IMMEDIATE")
    try:
        before = version(db)
        if before > VERSION:
            raise SchemaTooNew(
                f"the chat store is at schema version {before}; this talkterm knows {VERSION}"
            )
        for step in range(before, target):
            for statement in _statements(MIGRATIONS[step]):
                db.execute(statement)
        if target > before:
            db.execute(f"PRAGMA user_version = {int(target)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return before


def _statements(script: str) -> list[str]:
    """The statements of a step (``executescript`` would commit our transaction)."""
    return [part.strip() for part in script.split(";") if part.strip()]
