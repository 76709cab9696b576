"""A conversation as a Markdown document: title, date, each turn, how answers ended."""

from __future__ import annotations

from datetime import datetime

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
    who = "You" if turn.role == "user" else "talkterm"
    lines = [f"## {who}", "", turn.remembered.strip() or "*(nothing)*"]
    if mark := _MARKS.get(turn.status):
        lines += ["", mark]
    return lines
