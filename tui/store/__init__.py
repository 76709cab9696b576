"""Conversations that last: the SQLite chat store and its Markdown export.

``Store`` (db.py) writes each turn as soon as it ends; ``schema.py`` holds the
migrations; ``records.py`` the typed rows; ``markdown.py`` the export.
"""

from tui.store.db import ConversationNotFound, Store, StoreError, title_from
from tui.store.markdown import export_file, export_markdown, to_markdown
from tui.store.records import Conversation, NewTurn, Transcript, Turn, TurnStatus

__all__ = [
    "Conversation",
    "ConversationNotFound",
    "NewTurn",
    "Store",
    "StoreError",
    "Transcript",
    "Turn",
    "TurnStatus",
    "export_file",
    "export_markdown",
    "title_from",
    "to_markdown",
]
