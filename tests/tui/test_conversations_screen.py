"""The conversation list in a throwaway host app, on a real store in a tmp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App

from tests.helpers.waiting import wait_for
from tui.screens.conversations import ConfirmDelete, ConversationsScreen, ConversationTable
from tui.store import NewTurn, Store


class Host(App[None]):
    """Shows the list at once and keeps what it was dismissed with."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.result: list[int | None] = []

    def on_mount(self) -> None:
        self.push_screen(ConversationsScreen(self.store), self.result.append)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "talkterm.db")
    for question, turns in (("Tea or coffee?", 4), ("Wie spät ist es?", 2), ("Newest", 6)):
        chat = store.create_conversation()
        for i in range(turns):
            store.append_turn(chat, NewTurn("user" if i % 2 == 0 else "assistant", question))
    yield store
    store.close()


def rows(app: Host) -> list[tuple[str, str]]:
    table = app.screen.query_one(ConversationTable)
    return [
        (str(table.get_row_at(i)[0]), str(table.get_row_at(i)[2])) for i in range(table.row_count)
    ]


async def test_the_list_shows_title_and_turns_newest_first_and_enter_opens(store: Store) -> None:
    app = Host(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConversationsScreen), what="list")
        assert rows(app) == [("Newest", "6"), ("Wie spät ist es?", "2"), ("Tea or coffee?", "4")]
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.result, what="dismissed")
    assert app.result == [2]


async def test_rename_then_escape_closes_with_nothing(store: Store) -> None:
    app = Host(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConversationsScreen), what="list")
        await pilot.press("r", "ctrl+a", "ctrl+k", *"Morning tea", "enter")
        await wait_for(pilot, lambda: rows(app)[0][0] == "Morning tea", what="renamed")
        assert store.conversation(3).title == "Morning tea"
        # Escape while renaming only leaves the field; the next one closes the list.
        await pilot.press("r", "x", "escape")
        assert isinstance(app.screen, ConversationsScreen)
        assert store.conversation(3).title == "Morning tea"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.result, what="closed")
    assert app.result == [None]


async def test_delete_asks_first(store: Store) -> None:
    app = Host(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConversationsScreen), what="list")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDelete), what="question")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ConversationsScreen), what="kept")
        assert len(store.conversations()) == 3
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: len(rows(app)) == 2, what="deleted")
        assert [c.title for c in store.conversations()] == ["Wie spät ist es?", "Tea or coffee?"]


async def test_an_empty_store_says_so(tmp_path: Path) -> None:
    app = Host(Store(tmp_path / "empty.db"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConversationsScreen), what="list")
        assert app.screen.query_one("#empty").display
        await pilot.press("d", "r", "enter", "escape")
        await wait_for(pilot, lambda: app.result, what="closed")
    assert app.result == [None]
