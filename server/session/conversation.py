"""Per-session conversation memory: the items the next LLM request carries.

History is bounded in characters and items; over either bound the oldest items go
first, but the newest user item always stays (it is what the next answer is for). The
system prompt is not history. Without the bound, 10,000 items of 100 KB held 1 GB and
made a 1 GB request body, serialised on the event loop (docs/reliability.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.llm import Message
from server.protocol import COMPLETED, ItemStatus, new_id
from server.session.tool_items import ToolCallRef, add_tool_message, answered_calls, tool_item

# previous_item_id that puts an item first (the Realtime API's word for it).
ROOT = "root"


@dataclass(slots=True)
class SpokenSpan:
    """One synthesised segment: where its text sits and when it plays."""

    char_start: int
    char_end: int
    audio_start_ms: float
    audio_ms: float = 0.0


class Item:
    """A message in the conversation; assistant text is what the client received.

    An answer's text grows by ``append`` and is joined only when read: ``text +=
    delta`` copied the whole answer per delta (100,000 deltas took 10.5 s).
    """

    __slots__ = (
        "_parts",
        "call",
        "id",
        "kind",
        "modality",
        "role",
        "spans",
        "status",
        "truncated",
    )

    def __init__(
        self,
        id: str,
        role: str,
        text: str = "",
        status: ItemStatus = COMPLETED,
        modality: str = "text",
        spans: list[SpokenSpan] | None = None,
        truncated: bool = False,
        kind: str = "message",
        call: ToolCallRef | None = None,
    ) -> None:
        self.id = id
        self.kind = kind
        """message, function_call (text: its arguments) or function_call_output (text: it)."""
        self.call = call
        self.role = role
        self._parts = [text] if text else []
        self.status = status
        self.modality = modality
        self.spans: list[SpokenSpan] = spans if spans is not None else []
        self.truncated = truncated

    @property
    def text(self) -> str:
        """The whole text so far."""
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    @text.setter
    def text(self, value: str) -> None:
        self._parts = [value] if value else []

    def append(self, piece: str) -> None:
        """Add a piece of streamed text at the end."""
        self._parts.append(piece)

    @property
    def audio_ms(self) -> float:
        """Total audio sent for this item."""
        return sum(span.audio_ms for span in self.spans)

    def as_realtime(self) -> dict[str, Any]:
        """The item as the Realtime API shapes it (no audio bytes)."""
        if self.kind != "message":
            return tool_item(self)
        if self.role == "assistant":
            part: dict[str, Any] = (
                {"type": "output_audio", "transcript": self.text}
                if self.modality == "audio"
                else {"type": "output_text", "text": self.text}
            )
        elif self.modality == "audio":  # a spoken turn: its words once transcribed
            part = {"type": "input_audio", "transcript": self.text or None}
        else:
            part = {"type": "input_text", "text": self.text}
        return {
            "id": self.id,
            "object": "realtime.item",
            "type": "message",
            "status": self.status,
            "role": self.role,
            "content": [part],
        }


class Conversation:
    """Ordered items of one session, the oldest forgotten beyond the bounds."""

    def __init__(self, max_chars: int = 1 << 20, max_items: int = 1000) -> None:
        self.max_chars = max_chars
        self.max_items = max_items
        self._items: dict[str, Item] = {}

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._items

    def get(self, item_id: str) -> Item | None:
        """Return the item with this id, if any."""
        return self._items.get(item_id)

    def last_id(self) -> str | None:
        """Id of the newest item, for ``previous_item_id``."""
        return next(reversed(self._items), None)

    def add(
        self, role: str, text: str, item_id: str | None = None, after: str | None = None, **kw: Any
    ) -> Item:
        """Add a new item at the end, or after the item ``after`` ("root": first); return it."""
        item = Item(id=item_id or new_id("item"), role=role, text=text, **kw)
        if after is None or after == self.last_id():
            self._items[item.id] = item
        else:
            entries = list(self._items.items())
            at = 0 if after == ROOT else [key for key, _ in entries].index(after) + 1
            entries.insert(at, (item.id, item))
            self._items = dict(entries)
        self.trim()
        return item

    def previous_id(self, item_id: str) -> str | None:
        """Id of the item before ``item_id`` (None for the first)."""
        before = None
        for key in self._items:
            if key == item_id:
                return before
            before = key
        return None

    def delete(self, item_id: str) -> None:
        """Forget one item."""
        self._items.pop(item_id, None)

    def trim(self) -> None:
        """Forget the oldest items while over a bound; never the newest user item."""
        # Assistant text grows while an answer streams, so the total is counted afresh;
        # with at most max_items items that is cheap.
        chars = sum(len(item.text) for item in self._items.values())
        keep = self._newest_user()
        for item_id in list(self._items):
            if chars <= self.max_chars and len(self._items) <= self.max_items:
                return
            if item_id == keep:
                continue
            chars -= len(self._items.pop(item_id).text)

    def _newest_user(self) -> str | None:
        newest = self.newest_user()
        return newest.id if newest is not None else None

    def newest_user(self) -> Item | None:
        """The newest user item, if any."""
        for item in reversed(self._items.values()):
            if item.role == "user":
                return item
        return None

    def messages(self, instructions: str) -> list[Message]:
        """Chat Completions messages: the system prompt, then every non-empty item.

        A model's tool calls join the assistant message before them (or make one), and
        a call's output is a ``tool`` message, as Chat Completions wants them.
        """
        self.trim()
        out: list[Message] = [{"role": "system", "content": instructions}] if instructions else []
        paired = answered_calls(self._items.values())
        for item in self._items.values():
            if item.kind == "message" and item.text:
                out.append({"role": item.role, "content": item.text})
            elif item.call is not None and item.call.call_id in paired:
                add_tool_message(out, item)
        return out


def heard_text(item: Item, audio_end_ms: float) -> str:
    """The part of an assistant item's text that was spoken by ``audio_end_ms``.

    Within a segment, characters are assumed to be spoken at an even pace, and
    the cut moves back to the last whole word so the history never ends in
    half a word the user did not hear.
    """
    heard = 0
    for span in item.spans:
        if audio_end_ms >= span.audio_start_ms + span.audio_ms:
            heard = span.char_end
            continue
        if audio_end_ms > span.audio_start_ms and span.audio_ms > 0:
            share = (audio_end_ms - span.audio_start_ms) / span.audio_ms
            partial = span.char_start + int((span.char_end - span.char_start) * share)
            heard = _back_to_word(item.text, span.char_start, partial)
        break
    return item.text[:heard].rstrip()


def _back_to_word(text: str, start: int, cut: int) -> int:
    """Move ``cut`` back out of a half-spoken word, but not before ``start``."""
    if cut <= start or cut >= len(text) or text[cut].isspace() or text[cut - 1].isspace():
        return cut
    space = max(text.rfind(" ", start, cut), text.rfind("\n", start, cut))
    return space if space > start else start
