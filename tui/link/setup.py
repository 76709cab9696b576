"""Which link the app uses, built from its settings: the one place they flow into the link.

Without ``--server`` the app starts its own companion server and speaks WebSocket to
it; with ``--server`` it tries the WebSocket first and falls back to HTTP streaming.
"""

from __future__ import annotations

from tui.config import Settings
from tui.link import Endpoint, FixedEndpoint, Link
from tui.link.companion import CompanionEndpoint
from tui.link.fallback import FallbackLink
from tui.link.messages import Post
from tui.link.websocket import Connection


def endpoint(settings: Settings) -> Endpoint:
    """Where to connect: the server given by --server, or a companion server of our own."""
    if settings.server:
        return FixedEndpoint(settings.server, settings.token_value)
    return CompanionEndpoint(
        ready_within=settings.connect_timeout + 5, extra_env=settings.companion
    )


def websocket_link(settings: Settings, post: Post) -> Connection:
    """The WebSocket link the settings describe (timeouts, keepalive, backoff cap)."""
    return Connection(
        endpoint(settings),
        post,
        open_timeout=settings.connect_timeout,
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        max_delay=settings.reconnect_max_delay,
    )


def make_link(settings: Settings, post: Post) -> Link:
    """The app's link: with --server, WebSocket falling back to HTTP; else the companion's."""
    ws = websocket_link(settings, post)
    if not settings.server:
        return ws  # our own companion always speaks WebSocket
    ws.fallback = True
    return FallbackLink(ws, settings.token_value, post)
