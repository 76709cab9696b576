"""Resuming a session: the URL a client reconnects with and the last event it saw."""

from __future__ import annotations

from server import protocol as p
from server.app import Server
from tests.helpers.client import Client, Received


def resume_url(server: Server, client_or_id: Client | str, last_seq: int) -> str:
    """The WebSocket URL that resumes a session after event ``last_seq``."""
    session_id = (
        client_or_id if isinstance(client_or_id, str) else client_or_id.session["session"]["id"]
    )
    return f"{server.ws_url}?{p.resume_query(session_id, last_seq)}"


def last_seq(got: Received) -> int:
    """The newest seq among the events received."""
    return max(e["seq"] for e in got.events)
