"""The client's tools, as a Realtime session declares them and as the upstream gets them.

Realtime: ``{"type": "function", "name", "description", "parameters"}`` in
``session.tools`` (or ``response.tools``), ``tool_choice`` "auto" / "none" / "required"
or ``{"type": "function", "name"}``. Chat Completions nests the function:
``{"type": "function", "function": {"name", "description", "parameters"}}``.
"""

from __future__ import annotations

from typing import Any

from server import protocol as p

_CHOICES = ("auto", "none", "required")


def parse_tools(value: Any, param: str, bad: Any) -> tuple[dict[str, Any], ...]:
    """Function tools from a ``tools`` field; ``bad(param, message)`` makes the error."""
    if not isinstance(value, list):
        raise bad(param, "tools must be a list.")
    tools = []
    for index, tool in enumerate(value):
        where = f"{param}[{index}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise bad(where, "Only function tools are supported (type: function).")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise bad(where + ".name", "A function tool needs a name.")
        parameters = tool.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, dict):
            raise bad(where + ".parameters", "parameters must be a JSON schema object.")
        description = tool.get("description")
        if description is not None and not isinstance(description, str):
            raise bad(where + ".description", "description must be a string.")
        shaped = {"type": "function", "name": name, "parameters": parameters}
        tools.append(shaped | ({"description": description} if description else {}))
    return tuple(tools)


def parse_tool_choice(value: Any, param: str, bad: Any) -> str | dict[str, Any]:
    """A ``tool_choice``: auto, none, required, or one function by name."""
    if value in _CHOICES:
        return str(value)
    if isinstance(value, dict) and value.get("type") == "function":
        name = value.get("name")
        if isinstance(name, str) and name:
            return {"type": "function", "name": name}
    raise bad(
        param,
        'tool_choice must be "auto", "none", "required" or {"type": "function", "name": ...}.',
    )


def upstream_options(
    tools: tuple[dict[str, Any], ...], choice: str | dict[str, Any]
) -> dict[str, Any]:
    """The Chat Completions request fields for these tools (none when there are none)."""
    if not tools:
        return {}
    functions = [
        {"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}}
        for tool in tools
    ]
    wanted: Any = choice
    if isinstance(choice, dict):
        wanted = {"type": "function", "function": {"name": choice["name"]}}
    return {"tools": functions, "tool_choice": wanted}


def response_tools(
    event: dict[str, Any], tools: tuple[dict[str, Any], ...], choice: str | dict[str, Any]
) -> dict[str, Any]:
    """The upstream tool fields for one ``response.create``: its own tools, else the session's."""
    response = event.get("response") or {}
    event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None

    def bad(param: str, message: str) -> p.ProtocolError:
        return p.ProtocolError("invalid_value", message, param=param, event_id=event_id)

    if "tools" in response:
        tools = parse_tools(response["tools"], "response.tools", bad)
    if "tool_choice" in response:
        choice = parse_tool_choice(response["tool_choice"], "response.tool_choice", bad)
    return upstream_options(tools, choice)
