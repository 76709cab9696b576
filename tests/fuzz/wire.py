"""Client frames as they go on the wire, including the ones websockets refuses to send."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from websockets.frames import Frame, Opcode

from tests.helpers.client import Client

_PREVIEW = 80


@dataclass(frozen=True)
class Wire:
    """One WebSocket message: its payload bytes and whether it goes as a text frame."""

    data: bytes
    text: bool = True

    @classmethod
    def of(cls, frame: str | bytes) -> Wire:
        """A text frame from ``str``, a binary frame from ``bytes``."""
        return cls(frame.encode(), True) if isinstance(frame, str) else cls(frame, False)

    def __repr__(self) -> str:
        kind = "text" if self.text else "binary"
        head = self.data[:_PREVIEW]
        more = f"…(+{len(self.data) - _PREVIEW} bytes)" if len(self.data) > _PREVIEW else ""
        return f"Wire({kind}, {head!r}{more})"


async def send_wire(client: Client, wire: Wire) -> None:
    """Send one message; a text frame that is not UTF-8 is written frame by hand."""
    if not wire.text:
        await client.ws.send(wire.data)
        return
    try:
        text = wire.data.decode("utf-8")
    except UnicodeDecodeError:
        # websockets refuses to send invalid UTF-8 as text, so bypass its encoder.
        client.ws.protocol.send_frame(Frame(Opcode.TEXT, wire.data))
        client.ws.send_data()
        return
    await client.ws.send(text)


def wire_from_corpus(frame: Any) -> Wire:
    """Decode a corpus ``frame`` field (see test_corpus.py) into a Wire."""
    if isinstance(frame, str):
        return Wire.of(frame)
    binary = frame.get("opcode", "binary" if "base64" in frame else "text") == "binary"
    if "base64" in frame:
        return Wire(base64.b64decode(frame["base64"]), text=not binary)
    return Wire(corpus_text(frame).encode(), text=not binary)


def corpus_text(spec: Any) -> str:
    """A string, or ``{"repeat", "times"}`` with optional ``prefix``/``suffix`` (specs too)."""
    if isinstance(spec, str):
        return spec
    return (
        corpus_text(spec.get("prefix", ""))
        + spec["repeat"] * spec["times"]
        + corpus_text(spec.get("suffix", ""))
    )
