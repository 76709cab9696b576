"""One answer in progress: its state, ids, sentences' audio offsets, the events that control it."""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from server import protocol as p
from tui.link.websocket import Connection
from tui.states import Mark
from tui.widgets.assistant_turn import AssistantTurn

if TYPE_CHECKING:
    from tui.audio.feed import AudioFeed

AnswerEvent: TypeAlias = (
    Connection.ResponseStarted
    | Connection.ItemStarted
    | Connection.TextArrived
    | Connection.SegmentAnnounced
    | Connection.AudioArrived
)
"""The server events that fill an answer in."""


@dataclass(frozen=True)
class Ending:
    """How an answer ends on screen: its mark, the note under it, whether to cut the sound."""

    mark: Mark | None
    note: str = ""
    silence: bool = False


PLAYED = Ending(None)
"""Done and heard to the end: no mark."""
CUT_SHORT = Ending("incomplete", "■ incomplete: the server cut the answer short")
"""Ended early by the server (its length cap): what came is still played to the end."""
LOST = Ending("interrupted", "↯ interrupted: the connection was lost", silence=True)
REFUSED = Ending("interrupted", "↯ interrupted: the server refused the token", silence=True)
FORGOTTEN = Ending(
    "interrupted", "↯ interrupted: the server no longer had this conversation", silence=True
)
BUSY_RETRIES = 3
"""How often to ask again while the server is still closing the previous response."""


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
    final: Ending = PLAYED
    """How the answer ends once everything sent has been played."""
    response_id: str | None = None
    item_id: str | None = None
    starts_ms: list[float] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    audio_seen: bool = False
    pcm_ms: float = 0.0
    """Speech received, if it is PCM (HTTP streaming): what a stop's heard share is of."""
    audio_fed: bool = False
    """The audio thread has fed the player everything of this answer."""
    done: bool = False
    """The server sent response.done."""
    error: str = ""
    first_text_ms: float | None = None
    """How long after the prompt was sent the first text arrived."""
    first_audio_ms: float | None = None

    def take(self, event: AnswerEvent, feed: AudioFeed) -> None:
        """Apply one event of this answer; audio goes to the decoding thread (spoken answers)."""
        match event:  # ResponseStarted needs nothing more: owns() adopted its id
            case Connection.ItemStarted():
                self.item_id = event.item_id  # to truncate if the person stops the answer
            case Connection.TextArrived():
                self.first_text_ms = self.first_text_ms or self._since_sent()
                self.turn.write(event.delta)
            case Connection.SegmentAnnounced() if self.voice:
                self.add_segment(
                    event.audio_start_ms, event.char_start, event.char_end, event.language
                )
                feed.segment(self.generation, event.format)
            case Connection.AudioArrived() if self.voice:
                self.first_audio_ms = self.first_audio_ms or self._since_sent()
                self.audio_seen = True
                self.pcm_ms += p.pcm_ms(len(event.audio))
                feed.audio(self.generation, event.audio)

    def _since_sent(self) -> float:
        return (time.perf_counter() - self.sent_at) * 1000

    def owns(self, response_id: str) -> bool:
        """Whether an event of ``response_id`` belongs here (the first id seen is adopted)."""
        if self.response_id is None:
            self.response_id = response_id
        return self.response_id == response_id

    def add_segment(
        self, audio_start_ms: float, char_start: int, char_end: int, language: str = ""
    ) -> None:
        """Note where a sentence's audio starts (segments arrive in order) and its language."""
        self.starts_ms.append(audio_start_ms)
        self.spans.append((char_start, char_end))
        self.languages.append(language)

    def language_at(self, played_ms: float) -> str:
        """The language of the sentence being heard at ``played_ms`` ("" if unknown)."""
        index = bisect.bisect_right(self.starts_ms, played_ms) - 1
        return self.languages[index] if index >= 0 else ""

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
        if status == p.FAILED:
            return Ending("failed", f"✗ failed: {self.error}" if self.error else "✗ failed", True)
        if status == p.CANCELLED:
            return Ending("stopped", "■ cancelled by the server", silence=True)
        if status == p.INCOMPLETE:
            self.final = CUT_SHORT
        return self.final if self.finished_playing(0.0) else None

    def stopped(self, heard_ms: float) -> Ending:
        """How a Stop ends this answer: the note says how much was heard."""
        if not self.audio_seen:
            return Ending("stopped", "■ stopped")
        return Ending("stopped", f"■ stopped after {heard_ms / 1000:.1f} s of speech")

    def retry_delay(self) -> float | None:
        """Seconds before asking again while the server is busy (None: give up)."""
        if self.retries >= BUSY_RETRIES:
            return None
        self.retries += 1
        return 0.1 * self.retries

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
