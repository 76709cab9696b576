"""One answer in progress: its ids, its sentences' audio offsets, the events that control it."""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from server import protocol as p
from tui.widgets.assistant_turn import AssistantTurn


class ResponseState(StrEnum):
    """Where the app is with an answer."""

    IDLE = "idle"
    STREAMING = "streaming"
    PAUSED = "paused"
    STOPPING = "stopping"
    """Stopped on screen; waiting for the server to confirm the cancel."""


@dataclass(frozen=True)
class Ending:
    """How an answer ends on screen: its mark, the note under it, whether to cut the sound."""

    mark: str | None
    note: str = ""
    silence: bool = False


def modality(voice: bool) -> str:
    """The Realtime output modality for spoken or text-only answers."""
    return "audio" if voice else "text"


def session_update(voice: bool) -> dict[str, Any]:
    """Ask for the output mode and for audio as binary frames."""
    session = {"type": "realtime", "output_modalities": [modality(voice)]}
    return {"type": p.SESSION_UPDATE, "session": session | {"talkterm": {"binary_audio": True}}}


def conversation_item(role: str, text: str) -> dict[str, Any]:
    """A conversation.item.create for one earlier turn (user or assistant)."""
    kind = "output_text" if role == "assistant" else "input_text"
    item = {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}
    return {"type": p.ITEM_CREATE, "item": item}


def response_create(voice: bool) -> dict[str, Any]:
    """Ask for an answer in the given mode (explicit, in case a session.update is in flight)."""
    return {"type": p.RESPONSE_CREATE, "response": {"output_modalities": [modality(voice)]}}


@dataclass
class Answer:
    """What the app knows about the response it is showing and playing."""

    turn: AssistantTurn
    generation: int
    voice: bool
    """Whether speech was asked for (and can be played)."""
    sent_at: float = field(default_factory=time.perf_counter)
    create: dict[str, Any] = field(default_factory=dict)
    """The response.create event, kept to ask again if the server was still busy."""
    retries: int = 0
    response_id: str | None = None
    item_id: str | None = None
    starts_ms: list[float] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    audio_seen: bool = False
    audio_fed: bool = False
    """The audio thread has fed the player everything of this answer."""
    done: bool = False
    """The server sent response.done."""
    error: str = ""

    def owns(self, response_id: str) -> bool:
        """Whether an event of ``response_id`` belongs here (the first id seen is adopted)."""
        if self.response_id is None:
            self.response_id = response_id
        return self.response_id == response_id

    def add_segment(self, audio_start_ms: float, char_start: int, char_end: int) -> None:
        """Note where a sentence's audio starts (segments arrive in order)."""
        self.starts_ms.append(audio_start_ms)
        self.spans.append((char_start, char_end))

    def span_at(self, played_ms: float) -> tuple[int, int] | None:
        """The transcript span being heard at ``played_ms``, if any."""
        index = bisect.bisect_right(self.starts_ms, played_ms) - 1
        return self.spans[index] if index >= 0 else None

    def finished_playing(self, buffered_ms: float) -> bool:
        """Whether the server is done and everything it sent has been played."""
        if not self.done:
            return False
        return not self.audio_seen or (self.audio_fed and buffered_ms <= 0)

    def ending(self, status: str) -> Ending | None:
        """How ``response.done`` with ``status`` ends this answer (None: once it is played)."""
        if status == "failed":
            return Ending("failed", f"✗ failed: {self.error}" if self.error else "✗ failed", True)
        if status in ("cancelled", "incomplete"):
            mark = "stopped" if status == "cancelled" else "incomplete"
            return Ending(mark, f"■ {status} by the server", silence=True)
        return Ending(None) if self.finished_playing(0.0) else None

    def pause_events(self) -> list[dict[str, Any]]:
        """Ask the server to hold the response (nothing to hold once it is done)."""
        return [] if self.done else [self._event(p.RESPONSE_PAUSE)]

    def resume_events(self) -> list[dict[str, Any]]:
        """Ask the server to release what it held."""
        return [] if self.done else [self._event(p.RESPONSE_RESUME)]

    def stop_events(self, heard_ms: float) -> list[dict[str, Any]]:
        """Cancel (if still running), then cut the item to what was heard (voice only)."""
        events = [] if self.done else [self._event(p.RESPONSE_CANCEL)]
        if self.voice and self.audio_seen and self.item_id:
            events.append(
                {
                    "type": p.ITEM_TRUNCATE,
                    "item_id": self.item_id,
                    "content_index": 0,
                    "audio_end_ms": int(heard_ms),
                }
            )
        return events

    def _event(self, kind: str) -> dict[str, Any]:
        event: dict[str, Any] = {"type": kind}
        if self.response_id:
            event["response_id"] = self.response_id
        return event
