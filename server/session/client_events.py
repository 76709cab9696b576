"""Reading client events: the checks that turn a malformed field into a named ``error``.

Each helper reads one part of a client event and raises ``ProtocolError`` naming the
event and the field when it is wrong, so the session answers with an ``error`` event.
"""

from __future__ import annotations

from typing import Any

from server import protocol as p


def bad_event(
    event: dict[str, Any], code: str, message: str, param: str | None = None
) -> p.ProtocolError:
    """A ``ProtocolError`` for ``event``, carrying its ``event_id`` when it has a usable one."""
    event_id = event.get("event_id")
    return p.ProtocolError(
        code, message, param=param, event_id=event_id if isinstance(event_id, str) else None
    )


def required_field(event: dict[str, Any], name: str, kind: type) -> Any:
    """The field ``name`` of ``event``, refused when it is missing or not a ``kind``."""
    value = event.get(name)
    if value is None:
        raise bad_event(
            event, "missing_required_parameter", f"Missing required field '{name}'.", name
        )
    if not isinstance(value, kind) or isinstance(value, bool):
        raise bad_event(event, "invalid_type", f"Field '{name}' must be a {kind.__name__}.", name)
    return value


def user_item(event: dict[str, Any]) -> tuple[str, str, str | None]:
    """Role, joined text and optional id of a ``conversation.item.create`` message item."""
    item = event.get("item")
    if not isinstance(item, dict):
        raise bad_event(event, "invalid_type", "Field 'item' must be an object.", "item")
    if item.get("type", "message") != "message":
        raise bad_event(
            event,
            "invalid_value",
            "Only message, function_call and function_call_output items are supported.",
            "item.type",
        )
    role = item.get("role")
    if role not in ("user", "system", "assistant"):
        raise bad_event(
            event, "invalid_value", "item.role must be user, system or assistant.", "item.role"
        )
    # Assistant items re-seed a conversation (e.g. after a refused resume): output_text.
    kinds = ("output_text", "text") if role == "assistant" else ("input_text", "text")
    content = item.get("content")
    if not isinstance(content, list) or not content:
        raise bad_event(
            event, "invalid_type", "item.content must be a non-empty list.", "item.content"
        )
    texts = []
    for index, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in kinds:
            raise bad_event(
                event,
                "invalid_value",
                f"{role} content parts must be {kinds[0]} (no audio input).",
                f"item.content[{index}].type",
            )
        if not isinstance(part.get("text"), str):
            raise bad_event(
                event,
                "invalid_type",
                "Content text must be a string.",
                f"item.content[{index}].text",
            )
        texts.append(part["text"])
    item_id = item.get("id")
    if item_id is not None and not isinstance(item_id, str):
        raise bad_event(event, "invalid_type", "item.id must be a string.", "item.id")
    return role, "\n".join(texts), item_id


TOOL_ITEMS = ("function_call", "function_call_output")


def tool_item_fields(event: dict[str, Any]) -> tuple[str, str, str, str, str | None]:
    """Kind, call_id, name, text (arguments or output) and id of a tool item to create."""
    item = event["item"]
    kind = item["type"]
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad_event(event, "invalid_value", f"A {kind} item needs a call_id.", "item.call_id")
    field = "arguments" if kind == "function_call" else "output"
    text = item.get(field, "")
    if not isinstance(text, str):
        raise bad_event(event, "invalid_type", f"item.{field} must be a string.", f"item.{field}")
    name = item.get("name", "")
    if kind == "function_call" and (not isinstance(name, str) or not name):
        raise bad_event(event, "invalid_value", "A function_call item needs a name.", "item.name")
    item_id = item.get("id")
    if item_id is not None and not isinstance(item_id, str):
        raise bad_event(event, "invalid_type", "item.id must be a string.", "item.id")
    return kind, call_id, str(name), text, item_id


def response_modality(event: dict[str, Any], default: str) -> str:
    """The output modality a ``response.create`` asks for, else ``default``."""
    response = event.get("response")
    response = {} if response is None else response
    if not isinstance(response, dict):
        raise bad_event(event, "invalid_type", "Field 'response' must be an object.", "response")
    modalities = response.get("output_modalities")
    if modalities is None:
        return default
    if modalities not in (["text"], ["audio"]):
        raise bad_event(
            event,
            "invalid_value",
            'response.output_modalities must be ["text"] or ["audio"].',
            "response.output_modalities",
        )
    return str(modalities[0])


def response_instructions(event: dict[str, Any], default: str) -> str:
    """The instructions a ``response.create`` overrides, else ``default``."""
    response = event.get("response")
    instructions = response.get("instructions") if isinstance(response, dict) else None
    if instructions is None:
        return default
    if not isinstance(instructions, str):
        raise bad_event(event, "invalid_type", "response.instructions must be a string.")
    return instructions
