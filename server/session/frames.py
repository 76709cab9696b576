"""A WebSocket connection that lets the session judge text frames itself.

RFC 6455 has an endpoint drop the whole connection when a text frame is not
UTF-8. For an interactive client one bad frame should cost one ``error`` event,
not the conversation, so text frames reach the session as marked bytes and
the session decodes them, answering bad UTF-8 like any other bad input.

websockets bounds a fragmented message's size (``max_size`` counts the assembled
message), but not how long it may stay unfinished: a client sending fragments and
never the last one, while answering pings, held ~1 MiB for ever. A message still
unfinished after ``unfinished_timeout`` seconds closes the connection (1008).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from typing import Any, ClassVar, Final

from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode, Frame, Opcode

log = logging.getLogger("talkterm.server")

# Random per process, so no binary frame a client sends can pass for a text frame.
TEXT_MARK: Final = b"\x00talkterm:text:" + secrets.token_hex(8).encode() + b"\x00"


class TextKeepingConnection(ServerConnection):
    """Hands text messages over as ``TEXT_MARK + raw bytes`` instead of decoding them."""

    unfinished_timeout: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unfinished: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    @classmethod
    def factory(cls, unfinished_timeout: float) -> type[TextKeepingConnection]:
        """This connection class with its own limit on unfinished messages."""
        return type(cls.__name__, (cls,), {"unfinished_timeout": unfinished_timeout})

    def process_event(self, event: object) -> None:
        """Re-label an incoming text frame as marked binary before it is assembled."""
        if isinstance(event, Frame) and event.opcode in _DATA:
            self._time_message(event)
        if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
            event = dataclasses.replace(event, opcode=Opcode.BINARY, data=TEXT_MARK + event.data)
        super().process_event(event)  # type: ignore[arg-type]

    def _time_message(self, frame: Frame) -> None:
        """Start the clock at a message's first fragment; stop it at its last."""
        if not frame.fin and self._unfinished is None:
            delay = self.unfinished_timeout
            self._unfinished = self.loop.call_later(delay, self._unfinished_too_long)
        elif frame.fin and self._unfinished is not None:
            self._unfinished.cancel()
            self._unfinished = None

    def _unfinished_too_long(self) -> None:
        reason = f"message not finished within {self.unfinished_timeout:g} s"
        log.info("closing a connection: %s", reason)
        self._closing = self.loop.create_task(self.close(CloseCode.POLICY_VIOLATION, reason))

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the unfinished-message clock with the connection."""
        if self._unfinished is not None:
            self._unfinished.cancel()
        super().connection_lost(exc)


_DATA: Final = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.CONT})


def split_frame(frame: str | bytes) -> tuple[bool, bytes | str]:
    """Return (was_text, payload) for a message received on a TextKeepingConnection."""
    if isinstance(frame, str):
        return True, frame
    if frame.startswith(TEXT_MARK):
        return True, frame[len(TEXT_MARK) :]
    return False, frame
