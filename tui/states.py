"""What the widgets show about the app: where an answer is, and how the link stands.

These sit at the bottom of the app's layers: the app sets them, the status line shows
them, and neither the link nor the widgets need anything else of each other.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args


class ResponseState(StrEnum):
    """Where the app is with an answer."""

    IDLE = "idle"
    LISTENING = "listening"
    """The microphone is open: the person is talking (f4)."""
    STREAMING = "streaming"
    PAUSED = "paused"
    STOPPING = "stopping"
    """Stopped on screen; waiting for the server to confirm the cancel."""


class LinkState(StrEnum):
    """How the link to the server stands, as the app and its status line name it."""

    STARTING = "starting"
    """Starting the companion server."""
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    """Down; the next attempt is scheduled."""
    REFUSED = "refused"
    """The server refused the token: final, there are no more attempts."""


Mark = Literal["paused", "stopped", "failed", "interrupted", "incomplete"]
"""How an answer on screen is marked (no mark: playing, or done and heard to the end)."""
MARKS: tuple[Mark, ...] = get_args(Mark)

Mode = Literal["voice", "text"]
"""Whether answers are spoken or text only, as the status line names it."""


def model_in(label: str) -> str:
    """The model in the server's LLM label: "llama3.2 at http://…" or "local SmolLM2-135M —
    small and often wrong; …" both name just the model (no address, no advice)."""
    return label.split(" at ", 1)[0].split(" — ", 1)[0].strip()
