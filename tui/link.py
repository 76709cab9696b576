"""The link's parts that need no WebSocket: where to connect, backoff, plain-words failures."""

from __future__ import annotations

import random
from typing import Any, Protocol


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
    base = min(cap, 0.5 * 2 ** min(attempt, 16))
    return min(cap, base * (rng or random).uniform(0.5, 1.5))


class NotConnected(Exception):
    """An event was sent while there is no open connection."""


class Link(Protocol):
    """What the app needs from a connection (tests may supply a scripted one)."""

    @property
    def connected(self) -> bool:
        """Whether events can be sent now."""
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
