"""What a Chat Completions request asks of the model beyond its messages, and the tool
turns in its history.

The client's sampling and tool fields are forwarded to the LLM upstream as they are
(checked for shape first, so a typo is a 400 naming the field, not the upstream's
puzzle); a field talkterm cannot honour (``n`` above 1) is refused, never dropped.
"""

from __future__ import annotations

from typing import Any, Final

from server import protocol as p
from server.http.errors import BadRequest

# Forwarded untouched when present (OpenAI's names; every compatible server knows them).
FORWARDED: Final = (
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
)
_RANGES: Final = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0),
}


def request_options(body: dict[str, Any]) -> dict[str, Any]:
    """The fields to forward upstream, each checked; BadRequest names a wrong one."""
    n = body.get("n")
    if n is not None and n != 1:
        raise BadRequest("Only one choice per request is offered (n must be 1).",
                         code="unsupported_value", param="n")
    options = {name: body[name] for name in FORWARDED if body.get(name) is not None}
    for name, (low, high) in _RANGES.items():
        value = options.get(name)
        if value is not None and not (_number(value) and low <= value <= high):
            raise _bad(name, f"{name} must be a number from {low:g} to {high:g}.")
    _check_tools(options)
    if "parallel_tool_calls" in options and not isinstance(options["parallel_tool_calls"], bool):
        raise _bad("parallel_tool_calls", "parallel_tool_calls must be a boolean.")
    if "seed" in options and not (isinstance(options["seed"], int) and _number(options["seed"])):
        raise _bad("seed", "seed must be an integer.")
    stop = options.get("stop")
    if stop is not None and not (isinstance(stop, str) or _strings(stop, 4)):
        raise _bad("stop", "stop must be a string or a list of at most 4 strings.")
    fmt = options.get("response_format")
    if fmt is not None and not (
        isinstance(fmt, dict) and fmt.get("type") in ("text", "json_object", "json_schema")
    ):
        raise _bad("response_format", "response_format.type must be text, json_object or "
                   "json_schema.")
    return options


def _check_tools(options: dict[str, Any]) -> None:
    tools = options.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _bad("tools", "tools must be an array.")
        for index, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if tool.get("type") != "function" or not isinstance(function, dict) or not (
                isinstance(function.get("name"), str) and function["name"]
            ):
                raise _bad(f"tools[{index}]", "Each tool must be {\"type\": \"function\", "
                           "\"function\": {\"name\": ...}}.")
    choice = options.get("tool_choice")
    if choice is not None and choice not in ("none", "auto", "required") and not (
        isinstance(choice, dict) and choice.get("type") == "function"
    ):
        raise _bad("tool_choice", 'tool_choice must be "none", "auto", "required" or '
                   '{"type": "function", "function": {"name": ...}}.')


def tool_message(message: dict[str, Any], where: str, content: str) -> dict[str, Any]:
    """A ``tool`` message (a tool's result) as the upstream gets it."""
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest(f"{where}.tool_call_id is required for a tool message.",
                         code="missing_required_parameter", param=f"{where}.tool_call_id")
    return {"role": "tool", "tool_call_id": call_id, "content": p.utf8_safe(content)}


def assistant_tool_calls(message: dict[str, Any], where: str) -> list[dict[str, Any]] | None:
    """An assistant message's ``tool_calls`` (checked), or None when it has none."""
    calls = message.get("tool_calls")
    if calls is None:
        return None
    if not isinstance(calls, list):
        raise _bad(f"{where}.tool_calls", "tool_calls must be an array.")
    for index, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not (
            isinstance(call, dict)
            and isinstance(call.get("id"), str)
            and isinstance(function, dict)
            and isinstance(function.get("name"), str)
            and isinstance(function.get("arguments"), str)
        ):
            raise _bad(f"{where}.tool_calls[{index}]", "A tool call needs an id and a function "
                       "with a name and arguments (a JSON string).")
    return calls


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _strings(value: Any, most: int) -> bool:
    return isinstance(value, list) and len(value) <= most and all(
        isinstance(v, str) for v in value
    )


def _bad(param: str, message: str) -> BadRequest:
    return BadRequest(message, code="invalid_value", param=param)
