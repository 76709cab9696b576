"""User messages with ``input_audio`` parts, as ``conversation.item.create`` may carry them.

The Realtime API lets a client add a spoken turn whole: each part's ``audio`` is base64
in the session's input format (PCM16 24 kHz by default, or G.711), and ``transcript``
is kept on the part. Here the parts are checked and decoded before any item exists, so
bad audio is one ``error`` and nothing else changes; the session then transcribes the
turn as it does a committed one (``Turns.hear_item``), and a ``response.create`` after
it waits for the words. A part that brings its own ``transcript`` and no audio is taken
at its word (a client re-seeding a conversation), and nothing is transcribed.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Final

from server.session.client_events import bad_event
from server.session.input_audio import as_pcm16
from server.session.input_config import InputConfig

# Less than this is no turn at all (a commit of less is refused the same way).
MIN_AUDIO_MS: Final = 100


@dataclass(frozen=True, slots=True)
class SpokenMessage:
    """A user message made of ``input_audio`` parts: its audio, or the words it came with."""

    pcm: bytes
    """PCM16 mono at ``rate``, the parts' audio one after another (empty: ``transcript``)."""
    rate: int
    transcript: str
    """The words the client gave with the parts (used when there is no audio)."""
    item_id: str | None


def is_spoken(event: dict[str, Any]) -> bool:
    """Whether ``event`` creates a user message with at least one ``input_audio`` part."""
    item = event.get("item")
    content = item.get("content") if isinstance(item, dict) else None
    return (
        isinstance(item, dict)
        and item.get("type", "message") == "message"
        and item.get("role") == "user"
        and isinstance(content, list)
        and any(isinstance(part, dict) and part.get("type") == "input_audio" for part in content)
    )


def spoken_message(event: dict[str, Any], config: InputConfig, max_s: float) -> SpokenMessage:
    """The audio of a user message of ``input_audio`` parts; ProtocolError when it is bad."""
    item = event["item"]
    item_id = item.get("id")
    if item_id is not None and not isinstance(item_id, str):
        raise bad_event(event, "invalid_type", "item.id must be a string.", "item.id")
    pcm, transcripts = bytearray(), []
    for index, part in enumerate(item["content"]):
        where = f"item.content[{index}]"
        if not isinstance(part, dict) or part.get("type") != "input_audio":
            raise bad_event(
                event,
                "invalid_value",
                "A user message with input_audio has only input_audio parts; send its text "
                "as a message of its own.",
                f"{where}.type",
            )
        transcript = part.get("transcript")
        if transcript is not None and not isinstance(transcript, str):
            raise bad_event(event, "invalid_type", "transcript must be a string.", where)
        transcripts.append(transcript or "")
        audio = part.get("audio")
        if audio is None and transcript:
            continue
        pcm += _part_audio(event, audio, config, f"{where}.audio")
        _check_length(event, len(pcm), config, max_s, f"{where}.audio")
    words = " ".join(t.strip() for t in transcripts if t.strip())
    if not pcm and not words:
        raise bad_event(event, "invalid_value", "The input_audio parts hold no audio.", "item")
    if pcm and _ms(len(pcm), config.rate) < MIN_AUDIO_MS:
        raise bad_event(
            event,
            "input_audio_too_short",
            f"The message's audio lasts {_ms(len(pcm), config.rate):.0f} ms; a spoken turn "
            f"needs at least {MIN_AUDIO_MS} ms.",
            "item.content",
        )
    return SpokenMessage(bytes(pcm), config.rate, words, item_id)


def _part_audio(event: dict[str, Any], audio: Any, config: InputConfig, param: str) -> bytes:
    """One part's audio as PCM16 at the session's input rate."""
    if not isinstance(audio, str) or not audio:
        raise bad_event(
            event,
            "invalid_value",
            "An input_audio part needs 'audio': base64 of the session's input format "
            f"({config.format['type']}).",
            param,
        )
    try:
        raw = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise bad_event(
            event, "invalid_base64", "The part's 'audio' is not valid base64.", param
        ) from None
    return as_pcm16(event, raw, config.format["type"], piece="a part", param=param)


def _check_length(
    event: dict[str, Any], size: int, config: InputConfig, max_s: float, param: str
) -> None:
    seconds = _ms(size, config.rate) / 1000
    if seconds > max_s:
        raise bad_event(
            event,
            "input_audio_too_long",
            f"A spoken turn is at most {max_s:g} s; this message's audio is longer "
            f"({seconds:.1f} s so far). Split it into several messages.",
            param,
        )


def _ms(size: int, rate: int) -> float:
    return size / 2 * 1000 / rate
