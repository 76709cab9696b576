"""Which link the app uses, built from its settings: the one place they flow into the link.

Without ``--server`` the app starts its own companion server and speaks WebSocket to
it. With ``--server``, ``--transport`` chooses: ``websocket`` alone, ``http`` streaming
alone, ``hybrid`` (the first answer over HTTP while the WebSocket connects), or ``auto``:
the WebSocket first, falling back to HTTP streaming (docs/transports.md says why).
"""

from __future__ import annotations

import ssl

from tui.config import Settings
from tui.link import Endpoint, FixedEndpoint, Link
from tui.link.companion import CompanionEndpoint
from tui.link.fallback import FallbackLink, HttpOnlyLink, http_base
from tui.link.http import HttpLink
from tui.link.hybrid import HybridLink
from tui.link.messages import Post
from tui.link.websocket import Connection
from tui.tls import client_context


def endpoint(settings: Settings) -> Endpoint:
    """Where to connect: the server given by --server, or a companion server of our own."""
    if settings.server:
        return FixedEndpoint(settings.server, settings.token_value)
    return CompanionEndpoint(
        ready_within=settings.connect_timeout + 5, extra_env=settings.companion
    )


def websocket_link(settings: Settings, post: Post, tls: ssl.SSLContext) -> Connection:
    """The WebSocket link the settings describe (timeouts, keepalive, backoff cap, TLS)."""
    return Connection(
        endpoint(settings),
        post,
        open_timeout=settings.connect_timeout,
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        max_delay=settings.reconnect_max_delay,
        tls=tls,
    )


def fallback_link(settings: Settings, post: Post, tls: ssl.SSLContext) -> FallbackLink:
    """The WebSocket, falling back to HTTP streaming when the upgrade is refused."""
    ws = websocket_link(settings, post, tls)
    ws.fallback = True
    return FallbackLink(ws, settings.token_value, post, tls)


def make_link(settings: Settings, post: Post) -> Link:
    """The app's link: the companion's WebSocket, or the transport chosen for --server."""
    # One TLS context for every request and handshake: making one takes ~20 ms (the trust
    # store is parsed), on the UI loop, and the system's default trust is the same each time.
    tls = client_context(settings.ca_file)
    if not settings.server:
        return websocket_link(settings, post, tls)  # our own companion always speaks WebSocket
    base, token = http_base(settings.server), settings.token_value
    if settings.transport == "websocket":
        return websocket_link(settings, post, tls)
    if settings.transport == "http":
        return HttpOnlyLink(base, token, post, tls)
    if settings.transport == "hybrid":
        first = HttpLink(base, token, post, tls)
        return HybridLink(first, lambda later_post: fallback_link(settings, later_post, tls), post)
    return fallback_link(settings, post, tls)
