"""What a response says: the Realtime event shapes of one ResponseRun.

A mixin, so the run's logic (server/session/response.py) and its wire shapes stay in
separate files; it reads only the run's public state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server import protocol as p
from server.session.answer_cap import REASON as CAP_REASON
from server.session.conversation import Item, SpokenSpan
from server.speech.sentences import Segment

if TYPE_CHECKING:
    from server.errors import TalktermError
    from server.llm import Usage
    from server.session.response_options import Framing
    from server.session.response_parts import Timings, Voice
    from server.session.tool_calls import CallStream
    from server.speech.polyglot import Plan

OPENING = frozenset({p.RESPONSE_CREATED, p.OUTPUT_ITEM_ADDED, p.ITEM_ADDED, p.CONTENT_PART_ADDED})


class ResponseEvents:
    """Builds the events of one response from its state."""

    id: str
    item: Item
    status: p.ResponseStatus
    cancel_reason: str
    error: TalktermError | None
    usage: Usage | None
    timings: Timings
    framing: Framing
    calls: CallStream
    _voice: Voice
    _last_opening: dict[str, Any] | None

    @property
    def audio(self) -> bool:
        """Whether this response carries audio."""
        return self.item.modality == "audio"

    def _ids(self) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": self.item.id}

    def _where(self) -> dict[str, Any]:
        return {
            "response_id": self.id,
            "item_id": self.item.id,
            "output_index": 0,
            "content_index": 0,
        }

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, **fields}

    def _segment_event(
        self, segment: Segment, span: SpokenSpan, index: int, plan: Plan
    ) -> dict[str, Any]:
        return self._event(
            p.AUDIO_SEGMENT,
            **self._where(),
            segment_index=index - 1,
            text=segment.text,
            char_start=segment.start,
            char_end=segment.end,
            audio_start_ms=round(span.audio_start_ms, 1),
            format=self._voice.format["type"],
            language=plan.language,
            voice=plan.voice,
            parts=[
                {"text": part.text, "language": part.language, "voice": part.voice_name}
                for part in plan.parts
            ],
        )

    def response_object(self) -> dict[str, Any]:
        """The Realtime ``response`` object, plus our ``timings`` extension."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "realtime.response",
            "status": self.status,
            "status_details": self._status_details(),
            "output": self._output() if self.status != p.IN_PROGRESS else [],
            "output_modalities": [self.item.modality],
            "conversation_id": None,
            "metadata": self.framing.metadata,
            "audio": {"output": {"format": self._voice.format, "voice": self._voice.name}},
            "usage": None,
            "timings": self.timings.as_ms(),
        }
        if self.usage is not None:
            body["usage"] = {
                "input_tokens": self.usage.input_tokens,
                "output_tokens": self.usage.output_tokens,
                "total_tokens": self.usage.total_tokens,
            }
        return body

    def _output(self) -> list[dict[str, Any]]:
        return [self.item.as_realtime(), *(call.as_realtime() for call in self.calls.items)]

    def _status_details(self) -> dict[str, Any] | None:
        if self.status == p.CANCELLED:
            return {"type": p.CANCELLED, "reason": self.cancel_reason}
        if self.status == p.INCOMPLETE:  # the only way an answer ends so (answer_cap.py)
            return {"type": p.INCOMPLETE, "reason": CAP_REASON}
        if self.status == p.FAILED and self.error is not None:
            return {
                "type": p.FAILED,
                "error": {"type": "upstream_error", "code": self.error.code},
            }
        return None

    def _opening_events(self) -> list[dict[str, Any]]:
        where = self._where()
        part = {"type": "audio", "transcript": ""} if self.audio else {"type": "text", "text": ""}
        item = self.item.as_realtime() | {"status": p.IN_PROGRESS, "content": []}
        events = [
            self._event(p.RESPONSE_CREATED, response=self.response_object()),
            self._event(p.OUTPUT_ITEM_ADDED, response_id=self.id, output_index=0, item=item),
            *self._in_conversation(p.ITEM_ADDED, item),
            self._event(p.CONTENT_PART_ADDED, **where, part=part),
        ]
        self._last_opening = events[-1]
        return events

    def _closing_events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self.error is not None:
            events.append(p.error_event(self.error.code, self.error.message, kind="server_error"))
        where = self._where()
        text = self.item.text
        # Cut at the answer's cap, the text is whole up to there: its done events come too.
        if self.status in (p.COMPLETED, p.INCOMPLETE):
            if self.audio:
                events += [
                    self._event(p.AUDIO_DONE, **where),
                    self._event(p.TRANSCRIPT_DONE, **where, transcript=text),
                ]
            else:
                events.append(self._event(p.TEXT_DONE, **where, text=text))
            part = (
                {"type": "audio", "transcript": text}
                if self.audio
                else {
                    "type": "text",
                    "text": text,
                }
            )
            events.append(self._event(p.CONTENT_PART_DONE, **where, part=part))
        # A cancelled or failed answer closes its item too (status "incomplete"), before
        # response.done: clients that mirror the conversation wait for it.
        item = self.item.as_realtime()
        events += [
            self._event(p.OUTPUT_ITEM_DONE, response_id=self.id, output_index=0, item=item),
            *self._in_conversation(p.ITEM_DONE, item),
            self._event(p.RESPONSE_DONE, response=self.response_object()),
        ]
        return events

    def _in_conversation(self, kind: str, item: dict[str, Any]) -> list[dict[str, Any]]:
        """The conversation.item event, unless the answer is out of band."""
        if not self.framing.in_conversation:
            return []
        return [self._event(kind, item=item, previous_item_id=self.framing.previous_item_id)]
