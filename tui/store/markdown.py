"""A conversation as a Markdown document: title, date, each turn, how answers ended."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from tui.store.db import ConversationNotFound, Store
from tui.store.records import Transcript, Turn

_MARKS = {
    "stopped": "*■ stopped — only the part above was heard*",
    "interrupted": "*↯ interrupted*",
    "failed": "*✗ failed*",
    "incomplete": "*■ cut short by the server*",
}


def local_time(stamp: str) -> str:
    """A stored UTC timestamp in the local time zone, to the minute."""
    return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")


def to_markdown(transcript: Transcript) -> str:
    """The whole conversation as Markdown."""
    conversation = transcript.conversation
    lines = [f"# {conversation.title or 'Untitled conversation'}", ""]
    lines.append(f"*{local_time(conversation.created)} · {len(transcript.turns)} turns*")
    for turn in transcript.turns:
        lines += ["", *_turn(turn)]
    return "\n".join(lines).rstrip() + "\n"


def _turn(turn: Turn) -> list[str]:
    who = ("You (spoken)" if turn.spoken else "You") if turn.role == "user" else "talkterm"
    lines = [f"## {who}", "", turn.remembered.strip() or "*(nothing)*"]
    if mark := _MARKS.get(turn.status):
        lines += ["", mark]
    return lines


def export_markdown(store: Store, conversation_id: int | None = None) -> str:
    """A stored conversation as Markdown; the most recent one when no id is given."""
    if conversation_id is None:
        transcript = store.last()
        if transcript is None:
            raise ConversationNotFound("there are no conversations yet")
    else:
        transcript = store.load(conversation_id)
    return to_markdown(transcript)


def export_file(store: Store, conversation_id: int, directory: Path) -> Path:
    """Write a conversation to ``talkterm-<id>-<title>.md`` in ``directory``; its path."""
    title = store.conversation(conversation_id).title
    slug = "-".join(re.findall(r"\w+", title.lower()))[:40].strip("-") or "untitled"
    path = directory / f"talkterm-{conversation_id}-{slug}.md"
    path.write_text(export_markdown(store, conversation_id), encoding="utf-8")
    return path
