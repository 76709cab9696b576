"""Conversations that last, seen from the app: written as they happen, reopened, switched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.player import FakePlayer
from tests.helpers.tui_app import ask, open_older_chat, server_app
from tests.helpers.waiting import wait_for
from tui.store import Store
from tui.widgets.assistant_turn import AssistantTurn
from tui.widgets.transcript import UserTurn

LONG = "First, the kettle goes on. Then the cups are warmed. Next, the leaves go in. " * 6


def stored(path: Path) -> list[tuple[str, str, str]]:
    """(role, status, text) of every turn of the most recent conversation."""
    with Store(path) as store:
        last = store.last()
        return [] if last is None else [(t.role, t.status, t.text) for t in last.turns]


def request_messages(fake_llm: FakeLLM) -> list[tuple[str, str]]:
    """(role, content) the last chat request carried, system prompt left out."""
    messages: list[dict[str, Any]] = fake_llm.chat_requests[-1].json["messages"]
    return [(m["role"], m["content"]) for m in messages if m["role"] != "system"]


async def test_turns_are_stored_and_continue_reopens_them_with_their_history(
    fake_llm: FakeLLM, text_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "chats.db"
    fake_llm.enqueue(Reply(chunks=["Green tea is ", "steamed."]), Reply(chunks=["Yes."]))
    app = server_app(text_server, FakePlayer(speed=0), store_file=db)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
        await ask(pilot, app, "What is green tea?")
        await wait_for(pilot, lambda: len(stored(db)) == 2, what="answer stored")
    assert stored(db) == [
        ("user", "complete", "What is green tea?"),
        ("assistant", "complete", "Green tea is steamed."),
    ]
    with Store(db) as store:
        answer = store.conversations()[0]
        assert answer.title == "What is green tea?" and answer.model == "fake-model"

    # A restart with --continue shows the conversation and carries on with it.
    again = server_app(text_server, FakePlayer(speed=0), store_file=db, continue_last=True)
    async with again.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: again.link_state == "connected", what="connected again")
        await wait_for(pilot, lambda: again.query(AssistantTurn), what="old turns shown")
        assert again.query_one(UserTurn).prompt == "What is green tea?"
        await ask(pilot, again, "Really?")
        await wait_for(pilot, lambda: len(stored(db)) == 4, what="second answer stored")
    assert request_messages(fake_llm) == [
        ("user", "What is green tea?"),
        ("assistant", "Green tea is steamed."),
        ("user", "Really?"),
    ]
    with Store(db) as store:
        assert len(store.conversations()) == 1  # continued, not a new one


async def test_a_stopped_answer_keeps_what_was_heard(
    fake_llm: FakeLLM, speaking_server: Server, tmp_path: Path
) -> None:
    db = tmp_path / "chats.db"
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG), delay=0.02))
    player = FakePlayer(speed=1.0)
    app = server_app(speaking_server, player, store_file=db)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
        await ask(pilot, app, "Tea?")
        await wait_for(pilot, lambda: player.played_ms > 300, what="speech")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.state == "idle", what="idle")
        shown = app.query_one(AssistantTurn).text
    with Store(db) as store:
        last = store.last()
        assert last is not None
        answer = last.turns[1]
    assert answer.status == "stopped" and answer.text == shown
    assert answer.heard and shown.startswith(answer.heard) and len(answer.heard) < len(shown)
    assert answer.voice == "espeak" and answer.first_audio_ms is not None


async def test_new_conversation_and_opening_one_from_the_list(
    fake_llm: FakeLLM, text_server: Server, tmp_path: Path
) -> None:
    db = tmp_path / "chats.db"
    fake_llm.enqueue(Reply(chunks=["Oolong."]), Reply(chunks=["Rooibos."]), Reply(chunks=["Ok."]))
    app = server_app(text_server, FakePlayer(speed=0), store_file=db)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
        await ask(pilot, app, "A dark tea?")
        await wait_for(pilot, lambda: app.state == "idle" and len(stored(db)) == 2, what="done")

        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: not app.query(UserTurn), what="empty transcript")
        await wait_for(pilot, lambda: app.link_state == "connected", what="fresh session")
        await ask(pilot, app, "A red tea?")
        await wait_for(pilot, lambda: app.state == "idle" and stored(db)[-1][2] == "Rooibos.")
        assert request_messages(fake_llm) == [("user", "A red tea?")]  # nothing of the first

        await open_older_chat(pilot, app, ["A dark tea?"])
        await wait_for(pilot, lambda: app.link_state == "connected", what="its session")
        await ask(pilot, app, "Stronger?")
        await wait_for(pilot, lambda: app.state == "idle" and stored(db)[-1][2] == "Ok.")
    assert request_messages(fake_llm) == [
        ("user", "A dark tea?"),
        ("assistant", "Oolong."),
        ("user", "Stronger?"),
    ]
