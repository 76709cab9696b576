"""Tool calls in the conversation: the model's ``function_call`` items and the client's
``function_call_output`` items, as the Realtime API shapes them and as Chat Completions
messages carry them upstream.

Tools belong to the client: talkterm passes the model's calls on and the client's results
back, and runs nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from server.llm import Message
from server.protocol import COMPLETED

if TYPE_CHECKING:
    from server.session.conversation import Item


@dataclass(slots=True)
class ToolCallRef:
    """Which call an item is (``call_id``) and, for a call, the tool's name."""

    call_id: str
    name: str = ""


def tool_item(item: Item) -> dict[str, Any]:
    """A ``function_call`` or ``function_call_output`` item in the Realtime API's shape."""
    assert item.call is not None
    body: dict[str, Any] = {
        "id": item.id,
        "object": "realtime.item",
        "type": item.kind,
        "status": item.status,
        "call_id": item.call.call_id,
    }
    if item.kind == "function_call":
        return body | {"name": item.call.name, "arguments": item.text}
    return body | {"output": item.text}


def answered_calls(items: Iterable[Item]) -> set[str]:
    """The call ids with both a finished call and its output.

    Chat Completions refuses a call without its result (and a result without its call):
    a call cut off by a cancel, or one the client never answered, is left out upstream.
    """
    calls, outputs = set(), set()
    for item in items:
        if item.call is None:
            continue
        if item.kind == "function_call" and item.status == COMPLETED:
            calls.add(item.call.call_id)
        elif item.kind == "function_call_output":
            outputs.add(item.call.call_id)
    return calls & outputs


def add_tool_message(messages: list[Message], item: Item) -> None:
    """Append ``item`` to Chat Completions ``messages`` (a call joins the assistant turn)."""
    assert item.call is not None
    if item.kind == "function_call_output":
        messages.append({"role": "tool", "tool_call_id": item.call.call_id, "content": item.text})
        return
    call = {
        "id": item.call.call_id,
        "type": "function",
        "function": {"name": item.call.name, "arguments": item.text or "{}"},
    }
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant" and "tool_call_id" not in last:
        last.setdefault("tool_calls", []).append(call)
        return
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
