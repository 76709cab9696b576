"""The client events the app sends: the output mode, earlier turns, an answer, what it hears."""

from __future__ import annotations

import base64
from typing import Any

from server import protocol as p


def modality(voice: bool) -> str:
    """The Realtime output modality for spoken or text-only answers."""
    return "audio" if voice else "text"


def session_update(voice: bool) -> dict[str, Any]:
    """Ask for the output mode and for audio as binary frames."""
    session = {"type": "realtime", "output_modalities": [modality(voice)]}
    talkterm = {"binary_audio": True, "extensions": True}  # segments and notices, too
    return {"type": p.SESSION_UPDATE, "session": session | {"talkterm": talkterm}}


def conversation_item(role: str, text: str) -> dict[str, Any]:
    """A conversation.item.create for one earlier turn (user or assistant)."""
    kind = "output_text" if role == "assistant" else "input_text"
    item = {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}
    return {"type": p.ITEM_CREATE, "item": item}


def response_create(voice: bool) -> dict[str, Any]:
    """Ask for an answer in the given mode (explicit, in case a session.update is in flight)."""
    return {"type": p.RESPONSE_CREATE, "response": {"output_modalities": [modality(voice)]}}


def listening(*, vad: bool) -> dict[str, Any]:
    """Ask the server to listen: the pause after speaking ends the turn (``vad``), no answer
    by itself (the app asks once the words are in), and no barge-in while half-duplex."""
    detection = (
        {"type": "server_vad", "create_response": False, "interrupt_response": False}
        if vad
        else None
    )
    session = {"type": "realtime", "audio": {"input": {"turn_detection": detection}}}
    return {"type": p.SESSION_UPDATE, "session": session}


def input_audio(pcm: bytes) -> dict[str, Any]:
    """``input_audio_buffer.append``: PCM16 mono 24 kHz, base64 as OpenAI's ``audio/pcm``."""
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode("ascii")}


def input_commit() -> dict[str, Any]:
    """``input_audio_buffer.commit``: the turn is over (sent now rather than after the pause)."""
    return {"type": "input_audio_buffer.commit"}


def input_clear() -> dict[str, Any]:
    """``input_audio_buffer.clear``: throw away what was recorded (a cancelled turn)."""
    return {"type": "input_audio_buffer.clear"}

