"""The link that falls back: the WebSocket first, HTTP streaming when the upgrade is refused.

A refused upgrade is any non-101 answer but 401/403 (e.g. nginx with a plain
``proxy_pass``, which drops the Upgrade header); the WebSocket is tried again on the
next reconnect. ``HttpOnlyLink`` is HTTP streaming alone (``--transport http``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from tui.errors import UpgradeRefused
from tui.link import refused, unreachable
from tui.link.http import HttpLink
from tui.link.http_stream import HTTPStatusError
from tui.link.messages import ConnectionMessages as Messages
from tui.link.messages import Post
from tui.link.websocket import Connection

log = logging.getLogger("talkterm.connection")
_REALTIME = "/v1/realtime"


def http_base(ws_url: str) -> str:
    """The HTTP base URL of the server behind a WebSocket URL (a proxy's path prefix kept)."""
    scheme, rest = ws_url.split("://", 1)
    host, _, path = rest.partition("/")
    prefix = "/" + path.split("?", 1)[0]
    prefix = prefix[: prefix.find(_REALTIME)] if _REALTIME in prefix else ""
    return f"{'https' if scheme == 'wss' else 'http'}://{host}{prefix.rstrip('/')}"


class FallbackLink:
    """WebSocket first; HTTP streaming when the upgrade is refused."""

    def __init__(
        self, ws: Connection, token: str | None, post: Post, tls: ssl.SSLContext | None = None
    ) -> None:
        self.ws, self._token, self._post, self._tls = ws, token, post, tls
        self.http: HttpLink | None = None

    @property
    def connected(self) -> bool:
        """Whether events can be sent now."""
        return self.http.connected if self.http is not None else self.ws.connected

    @property
    def resumable(self) -> bool:
        """Only a WebSocket session can be resumed."""
        return self.http is None and self.ws.resumable

    def send(self, event: dict[str, Any]) -> None:
        """Send through whichever transport is active."""
        (self.http if self.http is not None else self.ws).send(event)

    async def run(self) -> None:
        """Alternate: WebSocket until refused, HTTP until a stream drops, WebSocket again."""
        while True:
            try:
                await self.ws.run()
                return  # the token was refused: final
            except UpgradeRefused as exc:
                log.info("WebSocket refused (HTTP %s); trying HTTP streaming", exc.status)
                where = exc.url
            self.http = HttpLink(http_base(where), self._token, self._post, self._tls)
            try:
                if await serve_http(self.http, self._post):
                    return
            finally:
                self.http = None
            await asyncio.sleep(1.0)

    async def new_session(self) -> None:
        """Leave the current conversation for an empty one, on whichever transport is active."""
        await (self.http if self.http is not None else self.ws).new_session()

    async def close(self) -> None:
        """Stop what the WebSocket link started."""
        await self.ws.close()


async def serve_http(http: HttpLink, post: Post) -> bool:
    """Run one HTTP link until its stream drops; True when the token was refused (final)."""
    try:
        await http.run()
    except HTTPStatusError as exc:
        if exc.status in (401, 403):
            post(Messages.AuthRefused(refused(exc.status)))
            return True
        post(Messages.Lost(exc.message, 1.0))
    except OSError as exc:
        post(Messages.Lost(unreachable(http.url, exc), 1.0))
    return False


class HttpOnlyLink:
    """HTTP streaming only: a new link (and history from the app) after each drop."""

    def __init__(
        self, url: str, token: str | None, post: Post, tls: ssl.SSLContext | None = None
    ) -> None:
        self.url, self._token, self._post, self._tls = url, token, post, tls
        self.http = HttpLink(url, token, post, tls)

    @property
    def connected(self) -> bool:
        """Whether the server answered over HTTP."""
        return self.http.connected

    @property
    def resumable(self) -> bool:
        """An HTTP answer cannot be resumed."""
        return False

    def send(self, event: dict[str, Any]) -> None:
        """Act on one client event."""
        self.http.send(event)

    async def run(self) -> None:
        """Serve, and after a drop try again every second, until the token is refused."""
        while not await serve_http(self.http, self._post):
            await asyncio.sleep(1.0)
            self.http = HttpLink(self.url, self._token, self._post, self._tls)

    async def new_session(self) -> None:
        """Leave the current conversation for an empty one."""
        await self.http.new_session()

    async def close(self) -> None:
        """Nothing was started."""
