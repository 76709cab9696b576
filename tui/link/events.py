"""The client events the app sends: the output mode, earlier turns, a request for an answer."""

from __future__ import annotations

from typing import Any

from server import protocol as p


def modality(voice: bool) -> str:
    """The Realtime output modality for spoken or text-only answers."""
    return "audio" if voice else "text"


def session_update(voice: bool) -> dict[str, Any]:
    """Ask for the output mode and for audio as binary frames."""
    session = {"type": "realtime", "output_modalities": [modality(voice)]}
    return {"type": p.SESSION_UPDATE, "session": session | {"talkterm": {"binary_audio": True}}}


def conversation_item(role: str, text: str) -> dict[str, Any]:
    """A conversation.item.create for one earlier turn (user or assistant)."""
    kind = "output_text" if role == "assistant" else "input_text"
    item = {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}
    return {"type": p.ITEM_CREATE, "item": item}


def response_create(voice: bool) -> dict[str, Any]:
    """Ask for an answer in the given mode (explicit, in case a session.update is in flight)."""
    return {"type": p.RESPONSE_CREATE, "response": {"output_modalities": [modality(voice)]}}
