"""Admission: whether a new connection may have a session, and what to say if not.

Sessions are counted whether connected or waiting for a resume: both hold memory; so is
every HTTP answer in progress (``Services.http_answers``), which holds an upstream stream
and an outbox as a session does. A client resuming a live session is always let in (it
adds nothing). Over the limit a new
connection gets HTTP 503 with a plain-words body at the handshake, never a hang; so does
one reaching a draining worker (server/scale/drain.py), which HAProxy then retries elsewhere.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from server import protocol as p
from server.session.session import Services

RETRY_AFTER_S = 30
"""What the 503's Retry-After says: about half the default resume grace."""


def full_message(limit: int) -> str:
    """The plain-words refusal, for the 503 body and the close reason."""
    return f"The server is at its limit of {limit} sessions; try again in a minute."


DRAINING_MESSAGE = "This server is shutting down; connect again to reach another."


def busy_message(services: Services) -> str:
    """Why no new session (or HTTP answer) is taken: draining, or full."""
    if services.draining:
        return DRAINING_MESSAGE
    return full_message(services.limits.max_sessions)


def refusal(services: Services, path: str) -> str | None:
    """Why a connection asking for ``path`` cannot have a session now, or None."""
    if not over_limit(services):
        return None
    wanted = parse_qs(urlsplit(path).query).get(p.RESUME_SESSION_PARAM, [None])[0]
    if wanted is not None and wanted in services.sessions:
        return None
    return busy_message(services)


def over_limit(services: Services) -> bool:
    """Whether a new session may not be made: draining, or the limit reached (handshakes
    that raced the check)."""
    return services.draining or _in_use(services) >= services.limits.max_sessions


def _in_use(services: Services) -> int:
    return len(services.sessions) + services.http_answers
