"""What the store keeps: a conversation, its turns, and the words a turn may end with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Role = Literal["user", "assistant"]
TurnStatus = Literal["complete", "stopped", "interrupted", "failed", "incomplete"]
"""How a turn ended: ``stopped`` by the person, ``interrupted`` by a lost connection or
session, ``failed`` with an error, ``incomplete`` when the server cut it (a token cap)."""

ROLES: tuple[str, ...] = get_args(Role)
STATUSES: tuple[str, ...] = get_args(TurnStatus)


@dataclass(frozen=True, slots=True)
class NewTurn:
    """A finished turn, as the app hands it over to be written down."""

    role: Role
    text: str
    status: TurnStatus = "complete"
    heard: str | None = None
    """For a spoken answer that was stopped: only the part that was heard."""
    model: str | None = None
    voice: str | None = None
    first_text_ms: float | None = None
    first_audio_ms: float | None = None
    spoken: bool = False
    """A question said into the microphone (its text is the transcript)."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One stored turn of a conversation."""

    conversation_id: int
    index: int
    role: Role
    text: str
    at: str
    """When the turn ended, ISO 8601 in UTC."""
    status: TurnStatus = "complete"
    heard: str | None = None
    model: str | None = None
    voice: str | None = None
    first_text_ms: float | None = None
    first_audio_ms: float | None = None
    spoken: bool = False
    """A question said into the microphone (its text is the transcript)."""

    @property
    def remembered(self) -> str:
        """What the conversation carries on with: the heard part of a stopped answer."""
        return self.heard if self.heard is not None else self.text


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation's own row, with how many turns it has."""

    id: int
    title: str
    created: str
    updated: str
    turn_count: int = 0
    model: str | None = None
    voice: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    """Choices made for this conversation (model, voice, rate…), as JSON."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """A conversation and its turns in order."""

    conversation: Conversation
    turns: list[Turn]

    def history(self) -> list[tuple[str, str]]:
        """(role, text) of every turn worth sending again to a new server session."""
        return [(turn.role, turn.remembered) for turn in self.turns if turn.remembered]


def settings_json(settings: dict[str, Any] | None) -> str:
    """Per-conversation settings as stored."""
    return json.dumps(settings or {}, ensure_ascii=False, sort_keys=True)
