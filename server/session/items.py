"""The conversation's items as a client edits them: create, truncate, delete, retrieve.

A mixin of ``Session`` (as ``ResponseEvents`` is of ``ResponseRun``), so each client
event has its own small handler here and session.py keeps to the session's life.
Interrupts from OpenAI clients come in their own order (openai-agents truncates before
it cancels, pipecat only truncates): an edit of the item still being generated cancels
that answer first, then acts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from server import protocol as p
from server.session.audio_items import is_spoken, spoken_message
from server.session.client_events import (
    TOOL_ITEMS,
    bad_event,
    required_field,
    tool_item_fields,
    user_item,
)
from server.session.conversation import ROOT, Conversation, Item, heard_text
from server.session.response import ResponseRun
from server.session.tool_items import ToolCallRef

if TYPE_CHECKING:
    from server.session.session import Services
    from server.session.session_config import SessionConfig
    from server.session.turns import Turns


class ItemHandlers:
    """The session's handlers for ``conversation.item.*`` and ``output_audio_buffer.clear``."""

    conversation: Conversation
    response: ResponseRun | None
    _lock: asyncio.Lock
    send: Callable[[dict[str, Any]], Awaitable[None]]
    services: Services
    config: SessionConfig
    turns: Turns
    edit_cancelled: str | None = None
    """The answer an item edit cancelled, until the next response.create: the
    ``response.cancel`` a client sends right after its truncate finds it already done."""

    async def on_conversation_item_create(self, event: dict[str, Any]) -> None:
        """Add a message or tool item at the end, or after ``previous_item_id`` ("root": first)."""
        if is_spoken(event):
            await self._create_spoken(event)
            return
        raw = event.get("item")
        if isinstance(raw, dict) and raw.get("type") in TOOL_ITEMS:
            kind, call_id, name, text, item_id = tool_item_fields(event)
            role, extra = "tool", {"kind": kind, "call": ToolCallRef(call_id, name)}
        else:
            role, text, item_id = user_item(event)
            extra = {}
        after = self._placed(event, item_id)
        item = self.conversation.add(role, text, item_id, after=after, **extra)
        await self._announce_item(item)

    async def _create_spoken(self, event: dict[str, Any]) -> None:
        """A user message of ``input_audio`` parts: added now, its words once transcribed."""
        spoken = spoken_message(event, self.config.listening, self.services.max_turn_s)
        if spoken.pcm and self.services.stt_problem is not None:
            raise bad_event(event, "stt_unavailable", self.services.stt_problem, "item.content")
        after = self._placed(event, spoken.item_id)
        item = self.conversation.add(
            "user", spoken.transcript, spoken.item_id, after=after, modality="audio"
        )
        if not spoken.pcm:  # the client's own transcript: nothing to hear
            await self._announce_item(item)
            return
        async with self._lock:
            await self.send(
                {
                    "type": p.ITEM_ADDED,
                    "previous_item_id": self.conversation.previous_id(item.id),
                    "item": item.as_realtime(),
                }
            )
        self.turns.hear_item(item, spoken.pcm, spoken.rate)

    def _placed(self, event: dict[str, Any], item_id: str | None) -> str | None:
        """Where a new item goes (``previous_item_id``), once its id is known to be new."""
        if item_id is not None and item_id in self.conversation:
            raise bad_event(
                event, "duplicate_item_id", f"Item id {item_id!r} already exists.", "item.id"
            )
        after = event.get("previous_item_id")
        if (
            after is not None
            and after != ROOT
            and (not isinstance(after, str) or after not in self.conversation)
        ):
            raise bad_event(
                event,
                "item_not_found",
                f"previous_item_id {after!r} is not an item of this conversation.",
                "previous_item_id",
            )
        return after

    async def _announce_item(self, item: Item) -> None:
        previous = self.conversation.previous_id(item.id)
        async with self._lock:
            for kind in (p.ITEM_ADDED, p.ITEM_DONE):
                await self.send(
                    {"type": kind, "previous_item_id": previous, "item": item.as_realtime()}
                )

    async def on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        """Keep only the text the user heard, up to ``audio_end_ms`` (cancelling it first)."""
        item_id = required_field(event, "item_id", str)
        audio_end_ms = required_field(event, "audio_end_ms", int)
        content_index = event.get("content_index", 0)
        item = self._item(event, item_id)
        if item.role != "assistant" or item.modality != "audio":
            raise bad_event(event, "invalid_item", "Only assistant audio items can be truncated.")
        if content_index != 0:
            raise bad_event(event, "invalid_value", "content_index must be 0.", "content_index")
        await self._stop_answer(item)
        if audio_end_ms < 0 or audio_end_ms > item.audio_ms + 1:
            raise bad_event(
                event,
                "invalid_value",
                f"audio_end_ms {audio_end_ms} is outside the item's audio "
                f"(0 to {int(item.audio_ms)} ms).",
                "audio_end_ms",
            )
        item.text = heard_text(item, audio_end_ms)
        item.truncated = True
        async with self._lock:
            await self.send(
                {
                    "type": p.ITEM_TRUNCATED,
                    "item_id": item.id,
                    "content_index": 0,
                    "audio_end_ms": audio_end_ms,
                }
            )

    async def on_conversation_item_delete(self, event: dict[str, Any]) -> None:
        """Forget an item (an answer still being generated is cancelled first)."""
        item = self._item(event, required_field(event, "item_id", str))
        await self._stop_answer(item)
        self.conversation.delete(item.id)
        async with self._lock:
            await self.send({"type": p.ITEM_DELETED, "item_id": item.id})

    async def on_conversation_item_retrieve(self, event: dict[str, Any]) -> None:
        """Send the server's copy of an item."""
        item = self._item(event, required_field(event, "item_id", str))
        async with self._lock:
            await self.send({"type": p.ITEM_RETRIEVED, "item": item.as_realtime()})

    async def on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        """Stop the audio being sent: the active answer is cancelled, then ``cleared``."""
        run = self.response
        if run is None or run.cancelled:
            return  # nothing is playing: nothing to clear, nothing to say
        await self._stop_answer(run.item)
        async with self._lock:
            await self.send({"type": p.OUTPUT_AUDIO_CLEARED, "response_id": run.id})

    def _item(self, event: dict[str, Any], item_id: str) -> Item:
        item = self.conversation.get(item_id)
        if item is None:
            raise bad_event(event, "item_not_found", f"No item with id {item_id!r}.", "item_id")
        return item

    async def _stop_answer(self, item: Item) -> None:
        """Cancel the answer that is generating ``item``, and wait for its response.done."""
        run = self.response
        if run is not None and run.item is item:
            run.cancel()
            self.edit_cancelled = run.id
            await run.wait()

    def cancelled_by_edit(self, event: dict[str, Any]) -> bool:
        """Whether a ``response.cancel`` asks for what an item edit already cancelled.

        openai-agents interrupts with a truncate then a cancel; answering the cancel with
        an error made it drop its next response.create (it took the error for that one's).
        """
        wanted = event.get("response_id")
        done = self.edit_cancelled
        return done is not None and (wanted is None or wanted == done)
