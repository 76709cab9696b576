"""A WebSocket connection that lets the session judge text frames itself.

RFC 6455 has an endpoint drop the whole connection when a text frame is not
UTF-8. For an interactive client one bad frame should cost one ``error`` event,
not the conversation, so text frames reach the session as marked bytes and
the session decodes them, answering bad UTF-8 like any other bad input.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Final

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode

# Random per process, so no binary frame a client sends can pass for a text frame.
TEXT_MARK: Final = b"\x00talkterm:text:" + secrets.token_hex(8).encode() + b"\x00"


class TextKeepingConnection(ServerConnection):
    """Hands text messages over as ``TEXT_MARK + raw bytes`` instead of decoding them."""

    def process_event(self, event: object) -> None:
        """Re-label an incoming text frame as marked binary before it is assembled."""
        if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
            event = dataclasses.replace(event, opcode=Opcode.BINARY, data=TEXT_MARK + event.data)
        super().process_event(event)  # type: ignore[arg-type]


def split_frame(frame: str | bytes) -> tuple[bool, bytes | str]:
    """Return (was_text, payload) for a message received on a TextKeepingConnection."""
    if isinstance(frame, str):
        return True, frame
    if frame.startswith(TEXT_MARK):
        return True, frame[len(TEXT_MARK) :]
    return False, frame
