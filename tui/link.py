"""The link's network-free parts: its states, the events the app sends, backoff, plain words."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Protocol

from server import protocol as p
from tui.errors import NotConnected

log = logging.getLogger("talkterm.link")


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


# Server error codes that only mean a control event raced the end of its response.
RACES = frozenset(
    {"response_cancel_not_active", "response_pause_not_active", "response_resume_not_active"}
)
BUSY = "conversation_already_has_active_response"
"""The server is still closing the previous response (e.g. one just cancelled)."""


class Endpoint(Protocol):
    """Where to connect: called before every attempt (a companion may be (re)started)."""

    async def __call__(self) -> tuple[str, str | None]:
        """The URL and token for the next attempt."""
        ...

    async def aclose(self) -> None:
        """Release what the endpoint started."""
        ...


class FixedEndpoint:
    """A server someone else runs (--server)."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url, self.token = url, token

    async def __call__(self) -> tuple[str, str | None]:
        """The configured URL and token."""
        return self.url, self.token

    async def aclose(self) -> None:
        """Nothing to stop."""


def backoff_delay(attempt: int, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before reconnection attempt ``attempt`` (0-based)."""
    base = min(cap, 0.5 * 2.0 ** min(attempt, 16))
    jitter = rng.uniform(0.5, 1.5) if rng is not None else random.uniform(0.5, 1.5)
    return min(cap, base * jitter)


class Link(Protocol):
    """What the app needs from a connection (tests may supply a scripted one)."""

    @property
    def connected(self) -> bool:
        """Whether events can be sent now."""
        ...

    @property
    def resumable(self) -> bool:
        """Whether a dropped link will resume its session (an answer waits for it)."""
        ...

    def send(self, event: dict[str, Any]) -> None:
        """Queue one client event; raise NotConnected when the link is down."""
        ...

    async def run(self) -> None:
        """Keep the link up until cancelled."""
        ...

    async def close(self) -> None:
        """Stop whatever the link started (a companion server)."""
        ...

    async def new_session(self) -> None:
        """Leave the current session for a fresh, empty one."""
        ...


def send_all(link: Link, events: Iterable[dict[str, Any]]) -> None:
    """Send events in order; while the link is down they are dropped (and logged)."""
    for event in events:
        try:
            link.send(event)
        except NotConnected:
            log.info("not connected; dropped %s", event["type"])


# -- what the app asks of the server ------------------------------------------------------


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


def choices(listed: Any) -> list[str] | None:
    """Names from a server's list: plain strings, or objects with an ``id`` or ``name``."""
    if not isinstance(listed, list):
        return None
    names = []
    for entry in listed:
        name = entry.get("id") or entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str) and name:
            names.append(name)
    return names


# -- failures in plain words --------------------------------------------------------------


def refused(status: int) -> str:
    """Why a refused token ends the retries, in plain words."""
    return (
        f"The server refused the token (HTTP {status}). Check --token or TALKTERM_TOKEN; "
        "talkterm will not retry."
    )


def unreachable(url: str | None, exc: BaseException) -> str:
    """Why a connection attempt failed, in plain words."""
    where = f" at {url}" if url else ""
    if isinstance(exc, TimeoutError):
        return f"the server{where} did not answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing is listening{where} (connection refused)"
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"cannot reach the server{where}: {detail}"
