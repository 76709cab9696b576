"""The chat store on a real SQLite file: migrations, turns, two writers at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tui.store import ConversationNotFound, NewTurn, Store, StoreError, to_markdown
from tui.store.schema import MIGRATIONS, VERSION, migrate, version

ROOT = Path(__file__).resolve().parents[2]


def test_an_empty_file_is_migrated_to_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "talkterm.db"
    Store(path).close()
    db = sqlite3.connect(path)
    assert version(db) == VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = {row[1] for row in db.execute("PRAGMA table_info(turns)")}
    assert {"heard", "status", "first_text_ms", "first_audio_ms"} <= columns


def test_a_version_1_store_keeps_its_conversations_when_migrated(tmp_path: Path) -> None:
    path = tmp_path / "talkterm.db"
    old = sqlite3.connect(path, isolation_level=None)
    migrate(old, target=1)
    old.execute(
        "INSERT INTO conversations (title, created, updated) VALUES ('old chat', '2024', '2024')"
    )
    old.execute(
        "INSERT INTO turns (conversation_id, position, role, text, at) "
        "VALUES (1, 0, 'user', 'hello from v1', '2024')"
    )
    old.close()
    with Store(path) as store:
        chat = store.load(1)
        assert chat.conversation.title == "old chat"
        assert [t.text for t in chat.turns] == ["hello from v1"]
        assert chat.turns[0].first_text_ms is None
        store.append_turn(1, NewTurn("assistant", "hi", first_text_ms=120.5))
        assert store.load(1).turns[-1].first_text_ms == 120.5
    assert version(sqlite3.connect(path)) == VERSION == len(MIGRATIONS)


def test_a_store_from_a_newer_talkterm_is_refused_in_plain_words(tmp_path: Path) -> None:
    path = tmp_path / "talkterm.db"
    Store(path).close()
    sqlite3.connect(path).execute(f"PRAGMA user_version = {VERSION + 1}")
    with pytest.raises(StoreError, match="this talkterm knows"):
        Store(path)


def test_turns_come_back_in_order_with_what_was_heard(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        chat = store.create_conversation(model="m1", voice="espeak")
        store.append_turn(chat, NewTurn("user", "Wie spät ist es? 你好 🫖\nsecond line"))
        store.append_turn(
            chat,
            NewTurn(
                "assistant",
                "Es ist Teezeit. Noch eine Tasse?",
                status="stopped",
                heard="Es ist Teezeit.",
                model="m1",
                voice="espeak",
                first_text_ms=80.0,
                first_audio_ms=240.0,
            ),
        )
        loaded = store.load(chat)
        assert loaded.conversation.title == "Wie spät ist es? 你好 🫖 second line"
        assert loaded.conversation.turn_count == 2
        assert [(t.index, t.role, t.status) for t in loaded.turns] == [
            (0, "user", "complete"),
            (1, "assistant", "stopped"),
        ]
        assert loaded.turns[1].first_audio_ms == 240.0
        # A stopped answer carries on with what was heard, not what was sent.
        assert loaded.history() == [
            ("user", "Wie spät ist es? 你好 🫖\nsecond line"),
            ("assistant", "Es ist Teezeit."),
        ]


def test_list_rename_delete_and_last(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        assert store.last() is None and store.conversations() == []
        first = store.create_conversation()
        store.append_turn(first, NewTurn("user", "first question"))
        second = store.create_conversation()
        store.append_turn(second, NewTurn("user", "x" * 200))
        listed = store.conversations()
        assert [c.id for c in listed] == [second, first]
        assert len(listed[0].title) <= 80 and listed[0].title.endswith("…")

        store.append_turn(first, NewTurn("assistant", "answer"))
        last = store.last()
        assert last is not None and last.conversation.id == first  # most recently used

        store.rename(first, "Tea")
        assert store.conversation(first).title == "Tea"
        store.delete(first)
        assert [c.id for c in store.conversations()] == [second]
        with pytest.raises(ConversationNotFound):
            store.load(first)
        with pytest.raises(ConversationNotFound):
            store.append_turn(first, NewTurn("user", "lost"))
        leftover = sqlite3.connect(tmp_path / "t.db").execute(
            "SELECT COUNT(*) FROM turns WHERE conversation_id = ?", (first,)
        )
        assert leftover.fetchone()[0] == 0


def test_settings_per_conversation(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        chat = store.create_conversation(settings={"voice": "en-gb", "speed": 1.2})
        assert store.conversation(chat).settings == {"voice": "en-gb", "speed": 1.2}
        store.set_settings(chat, {"voice": "de"})
        assert store.conversation(chat).settings == {"voice": "de"}


def test_markdown_export_marks_how_answers_ended(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        chat = store.create_conversation()
        store.append_turn(chat, NewTurn("user", "Tell me about tea"))
        store.append_turn(chat, NewTurn("assistant", "Tea is. More.", "stopped", heard="Tea is."))
        store.append_turn(chat, NewTurn("user", "and?"))
        store.append_turn(chat, NewTurn("assistant", "Half", "interrupted"))
        text = to_markdown(store.load(chat))
    assert text.startswith("# Tell me about tea\n")
    assert text.count("## You") == 2 and text.count("## talkterm") == 2
    assert "Tea is." in text and "More." not in text
    assert "■ stopped" in text and "↯ interrupted" in text


WRITER = """
import sys
from tui.store import NewTurn, Store
path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Store(path) as store:
    chat = store.create_conversation(name)
    for i in range(count):
        store.append_turn(chat, NewTurn("user", f"{name} question {i}"))
        store.append_turn(chat, NewTurn("assistant", f"{name} answer {i}"))
        store.conversations()
print(chat)
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"  # both start on a file that does not exist yet
    count = 150
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, str(count)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    results = [writer.communicate(timeout=60) for writer in writers]
    for writer, (_, err) in zip(writers, results, strict=True):
        assert writer.returncode == 0, err
    with Store(path) as store:
        chats = {c.title: store.load(c.id) for c in store.conversations()}
        assert set(chats) == {"alpha", "beta"}
        for name, chat in chats.items():
            assert [t.index for t in chat.turns] == list(range(2 * count))
            assert chat.turns[-1].text == f"{name} answer {count - 1}"
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
