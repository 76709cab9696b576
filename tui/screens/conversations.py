"""The conversation list: past chats with title, date and turn count; open, rename, delete.

Dismissed with the id of the conversation to open, or None (Escape). It reads and
writes the store itself: renaming and deleting need nothing from the app.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Label

from tui.store import Conversation, Store, StoreError
from tui.store.markdown import local_time


class ConfirmDelete(ModalScreen[bool]):
    """Asks before a conversation is deleted; dismissed with True to delete."""

    DEFAULT_CSS = """
    ConfirmDelete { align: center middle; }
    ConfirmDelete > Vertical { width: 60; height: auto; border: thick $error; padding: 1 2;
                               background: $surface; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Delete", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "Keep", id="confirm.no"),
    ]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.chat_title = title

    def compose(self) -> ComposeResult:
        """The question and the keys that answer it."""
        with Vertical():
            yield Label(f"Delete “{self.chat_title}”? It cannot be undone.", markup=False)
            yield Label("y deletes · n or Escape keeps it")

    def action_answer(self, delete: bool) -> None:
        """Close with the answer."""
        self.dismiss(delete)


class ConversationTable(DataTable[str]):
    """The list of stored conversations, one row each (a CSS hook)."""


class RenameInput(Input):
    """The new title, shown while renaming (a CSS hook)."""


class ConversationsScreen(ModalScreen[int | None]):
    """Past conversations: Enter opens, r renames, d deletes, Escape closes."""

    DEFAULT_CSS = """
    ConversationsScreen { align: center middle; }
    ConversationsScreen > Vertical { width: 90%; height: 80%; border: thick $primary;
                                     background: $surface; }
    ConversationsScreen #heading { padding: 0 1; text-style: bold; }
    ConversationsScreen ConversationTable { height: 1fr; }
    ConversationsScreen RenameInput { display: none; }
    ConversationsScreen RenameInput.-renaming { display: block; }
    ConversationsScreen #empty { padding: 1 2; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rename", "Rename", id="conversations.rename"),
        Binding("d", "delete", "Delete", id="conversations.delete"),
        Binding("escape", "close", "Close", id="conversations.close"),
    ]

    def __init__(self, store: Store, current: int | None = None) -> None:
        super().__init__()
        self.store = store
        self.current = current
        """The conversation on screen now, marked in the list."""
        self.rows: list[Conversation] = []

    def compose(self) -> ComposeResult:
        """Heading, the table, the rename field, the keys."""
        with Vertical():
            yield Label("Conversations", id="heading")
            yield ConversationTable(cursor_type="row", zebra_stripes=True)
            yield Label("No conversations yet.", id="empty")
            with Horizontal(classes="rename"):
                yield RenameInput(placeholder="New title, Enter to keep it")
            yield Footer()

    def on_mount(self) -> None:
        """Fill the table, newest first."""
        table = self.query_one(ConversationTable)
        table.add_column("Title", key="title")
        table.add_column("Date", key="date", width=16)
        table.add_column("Turns", key="turns", width=5)
        self.refresh_rows()
        table.focus()

    def refresh_rows(self) -> None:
        """Read the list again from the store (another instance may have written)."""
        try:
            self.rows = self.store.conversations()
        except StoreError as exc:
            self.notify(str(exc), title="Conversations", severity="error")
            self.rows = []
        table = self.query_one(ConversationTable)
        row = table.cursor_row
        table.clear()
        for chat in self.rows:
            mark = "● " if chat.id == self.current else ""
            title = mark + (chat.title or "(untitled)")
            table.add_row(title, local_time(chat.updated), str(chat.turn_count), key=str(chat.id))
        table.display = bool(self.rows)
        self.query_one("#empty").display = not self.rows
        if self.rows:
            table.move_cursor(row=min(row, len(self.rows) - 1))

    @property
    def selected(self) -> Conversation | None:
        """The conversation under the cursor."""
        table = self.query_one(ConversationTable)
        if not self.rows or not table.is_valid_row_index(table.cursor_row):
            return None
        return self.rows[table.cursor_row]

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        """Enter on a row: open that conversation."""
        if event.row_key.value is not None:
            self.dismiss(int(event.row_key.value))

    @on(Input.Submitted)
    def _renamed(self, event: Input.Submitted) -> None:
        chat, title = self.selected, event.value.strip()
        if chat is not None and title:
            try:
                self.store.rename(chat.id, title)
            except StoreError as exc:
                self.notify(str(exc), title="Rename", severity="error")
        self._end_rename()
        self.refresh_rows()

    def action_rename(self) -> None:
        """Show the title field for the conversation under the cursor."""
        if (chat := self.selected) is None:
            return
        field = self.query_one(RenameInput)
        field.value = chat.title
        field.add_class("-renaming")
        field.focus()

    def action_delete(self) -> None:
        """Ask, then delete the conversation under the cursor."""
        if (chat := self.selected) is None:
            return

        def answered(delete: bool | None) -> None:
            if not delete:
                return
            try:
                self.store.delete(chat.id)
            except StoreError as exc:
                self.notify(str(exc), title="Delete", severity="error")
            self.refresh_rows()

        self.app.push_screen(ConfirmDelete(chat.title), answered)

    def action_close(self) -> None:
        """Escape: leave a rename under way, else close the list."""
        if self.query_one(RenameInput).has_class("-renaming"):
            self._end_rename()
        else:
            self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Rename and delete need a row; while renaming, letters belong to the field."""
        if action in ("rename", "delete"):
            renaming = self.query_one(RenameInput).has_class("-renaming")
            return None if renaming or self.selected is None else True
        return True

    def _end_rename(self) -> None:
        self.query_one(RenameInput).remove_class("-renaming")
        self.query_one(ConversationTable).focus()
