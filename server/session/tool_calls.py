"""The model's tool calls within one response, as Realtime events.

Each call is a ``function_call`` item after the answer's message item (output_index 1,
2 …): ``response.output_item.added`` (and ``conversation.item.added``) when its name
arrives, ``response.function_call_arguments.delta`` per piece of its arguments, and at
the end of the stream ``response.function_call_arguments.done``,
``response.output_item.done`` (and ``conversation.item.done``). The client runs the
tool and answers with a ``function_call_output`` item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from server import protocol as p
from server.llm import ToolCallDelta
from server.session.conversation import Conversation, Item
from server.session.tool_items import ToolCallRef

ARGUMENTS_DELTA: Final = "response.function_call_arguments.delta"
ARGUMENTS_DONE: Final = "response.function_call_arguments.done"

NewItem = Callable[[ToolCallRef], Item]


def standalone_item(call: ToolCallRef) -> Item:
    """A call item that joins no conversation (out-of-band answers, HTTP)."""
    return Item(p.new_id("item"), "tool", kind="function_call", call=call, status=p.IN_PROGRESS)


def joining(conversation: Conversation) -> NewItem:
    """Call items that join ``conversation`` as each call starts (before its output comes)."""

    def new_item(call: ToolCallRef) -> Item:
        return conversation.add("tool", "", kind="function_call", call=call, status=p.IN_PROGRESS)

    return new_item


class CallStream:
    """Turns ``ToolCallDelta`` pieces into the events and items of one response's calls."""

    def __init__(
        self, response_id: str, new_item: NewItem, in_conversation: bool, after: str
    ) -> None:
        self._response_id = response_id
        self._new_item = new_item
        self._in_conversation = in_conversation
        self._previous = after
        self.items: list[Item] = []
        self._by_index: dict[int, Item] = {}

    def feed(self, piece: ToolCallDelta) -> list[dict[str, Any]]:
        """The events for one piece of a call."""
        events: list[dict[str, Any]] = []
        item = self._by_index.get(piece.index)
        if item is None:
            call = ToolCallRef(piece.call_id or p.new_id("call"), piece.name or "")
            item = self._new_item(call)
            self._by_index[piece.index] = item
            self.items.append(item)
            events += self._opened(item)
        elif piece.name and item.call is not None and not item.call.name:
            item.call.name = piece.name
        if piece.arguments:
            item.append(piece.arguments)
            events.append(self._where(item) | {"type": ARGUMENTS_DELTA, "delta": piece.arguments})
        return events

    def close(self) -> list[dict[str, Any]]:
        """The closing events of every call, in order (the stream ended)."""
        events: list[dict[str, Any]] = []
        for item in self.items:
            item.status = p.COMPLETED
            assert item.call is not None
            done = {"type": ARGUMENTS_DONE, "name": item.call.name, "arguments": item.text}
            events.append(self._where(item) | done)
            events.append(self._output(item, p.OUTPUT_ITEM_DONE))
            events += self._conversation(item, p.ITEM_DONE)
        return events

    def _opened(self, item: Item) -> list[dict[str, Any]]:
        return [self._output(item, p.OUTPUT_ITEM_ADDED), *self._conversation(item, p.ITEM_ADDED)]

    def _output(self, item: Item, kind: str) -> dict[str, Any]:
        return {
            "type": kind,
            "response_id": self._response_id,
            "output_index": self._index(item),
            "item": item.as_realtime(),
        }

    def _conversation(self, item: Item, kind: str) -> list[dict[str, Any]]:
        if not self._in_conversation:
            return []
        position = self.items.index(item)
        previous = self.items[position - 1].id if position else self._previous
        return [{"type": kind, "item": item.as_realtime(), "previous_item_id": previous}]

    def _where(self, item: Item) -> dict[str, Any]:
        assert item.call is not None
        return {
            "response_id": self._response_id,
            "item_id": item.id,
            "output_index": self._index(item),
            "call_id": item.call.call_id,
        }

    def _index(self, item: Item) -> int:
        return 1 + self.items.index(item)
