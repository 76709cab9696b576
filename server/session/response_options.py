"""What a ``response.create`` asks for beyond the session's defaults.

``metadata`` is echoed in response.created and response.done (LiveKit waits for it);
``conversation: "none"`` makes an out-of-band answer that joins no conversation; ``input``
gives the answer its own context (messages, or references to items) instead of the
conversation's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.session.client_events import bad_event, user_item
from server.session.conversation import Conversation

_METADATA_KEYS = 16


@dataclass(frozen=True, slots=True)
class Framing:
    """Where an answer sits: its metadata, and whether (and after what) it joins the history."""

    metadata: dict[str, str] | None = None
    in_conversation: bool = True
    previous_item_id: str | None = None


def framing(event: dict[str, Any], conversation: Conversation) -> Framing:
    """The framing a ``response.create`` asks for (its ``response`` is known to be a dict)."""
    response = event.get("response") or {}
    metadata = response.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and len(metadata) <= _METADATA_KEYS
        and all(isinstance(v, str) for v in metadata.values())
    ):
        raise bad_event(
            event,
            "invalid_value",
            f"response.metadata must be an object of at most {_METADATA_KEYS} string values.",
            "response.metadata",
        )
    where = response.get("conversation", "auto")
    if where not in ("auto", "none"):
        raise bad_event(
            event,
            "invalid_value",
            'response.conversation must be "auto" or "none".',
            "response.conversation",
        )
    joins = where == "auto"
    return Framing(metadata, joins, conversation.last_id() if joins else None)


def input_messages(
    event: dict[str, Any], conversation: Conversation, instructions: str
) -> list[dict[str, str]] | None:
    """Messages from ``response.input`` (None when it has none: the conversation is used)."""
    response = event.get("response") or {}
    entries = response.get("input")
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise bad_event(event, "invalid_type", "response.input must be a list.", "response.input")
    messages = [{"role": "system", "content": instructions}] if instructions else []
    for index, entry in enumerate(entries):
        role, text = _entry(event, conversation, entry, index)
        messages.append({"role": role, "content": text})
    return messages


def _entry(
    event: dict[str, Any], conversation: Conversation, entry: Any, index: int
) -> tuple[str, str]:
    if isinstance(entry, dict) and entry.get("type") == "item_reference":
        wanted = entry.get("id")
        found = conversation.get(wanted) if isinstance(wanted, str) else None
        if found is None:
            raise bad_event(
                event,
                "item_not_found",
                f"response.input[{index}] refers to no item of this conversation.",
                f"response.input[{index}].id",
            )
        return found.role, found.text
    role, text, _ = user_item({"item": entry, "event_id": event.get("event_id")})
    return role, text
