"""Every event a plain OpenAI client receives must be one of OpenAI's own server events."""

from __future__ import annotations

from typing import Any

from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from server import protocol as p
from tests.helpers.client import Client

_EVENTS: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)


def check_openai_event(event: dict[str, Any]) -> None:
    """Validate ``event`` strictly against the openai package's server-event union."""
    _EVENTS.validate_python(event, strict=True)


class PlainClient(Client):
    """A client that never asks for extensions and checks every event it reads."""

    checked = 0

    async def recv(self, timeout: float | None = 10) -> dict[str, Any] | p.AudioFrame:
        """Next event, validated as an OpenAI server event."""
        event = await super().recv(timeout)
        assert isinstance(event, dict), "a plain client never gets binary frames"
        check_openai_event(event)
        self.checked += 1
        return event
