"""The WebSocket link to the server: connect, keep alive, reconnect, translate events.

``Connection.run`` is meant for an app worker. It never touches widgets: every
thing that happens is posted as a typed message (nested here, so handlers are
named ``on_connection_text_arrived`` and so on). Outgoing events go through a
queue drained by the connection's own producer task, so an action handler
never awaits the network.

Reconnection waits ``min(cap, 0.5 s × 2ⁿ)`` with ±50 % jitter; a refused
token (HTTP 401/403 on the handshake) is final: retrying cannot fix it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from server import protocol as p
from tui.errors import NotConnected, UpgradeRefused
from tui.link import Endpoint, backoff_delay, refused, unreachable
from tui.link.messages import ConnectionMessages, Post
from tui.link.resume import ResumePoint
from tui.link.server_events import session_started, translate

log = logging.getLogger("talkterm.connection")


class Connection(ConnectionMessages):
    """One client link to the server, kept open by reconnecting."""

    def __init__(
        self,
        endpoint: Endpoint,
        post: Post,
        *,
        open_timeout: float = 10.0,
        ping_interval: float = 20.0,
        ping_timeout: float = 20.0,
        max_delay: float = 15.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._endpoint = endpoint
        self.tls = tls  # for wss:// (None: the system's trust store)
        self._post = post
        self._open_timeout = open_timeout
        self._ping = (ping_interval, ping_timeout)
        self._max_delay = max_delay
        # Raise UpgradeRefused instead of retrying a refused handshake (FallbackLink).
        self.fallback = False
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ws: ClientConnection | None = None
        self.resume = ResumePoint()
        self._renewing = False

    @property
    def endpoint(self) -> Endpoint:
        """Where each attempt connects (a companion endpoint owns the companion server)."""
        return self._endpoint

    async def close(self) -> None:
        """Stop the companion server, if this link started one."""
        await self._endpoint.aclose()

    @property
    def connected(self) -> bool:
        """Whether a WebSocket is open right now."""
        return self._ws is not None

    @property
    def resumable(self) -> bool:
        """Whether a dropped connection will try to resume the session it had."""
        return self.resume.session_id is not None

    def send(self, event: dict[str, Any]) -> None:
        """Queue one client event; raises NotConnected when there is no session at all.

        While a session is being resumed, events wait and go out once it is back (a
        Stop pressed during a reconnect still cancels the answer).
        """
        if self._ws is None and not self.resumable:
            raise NotConnected("Not connected to the server.")
        self._outbox.put_nowait(event)

    async def new_session(self) -> None:
        """Start over in a fresh, empty session (another conversation is opened)."""
        self.resume = ResumePoint()
        self._outbox = asyncio.Queue()
        if self._ws is not None:
            # run() reconnects at once, without a Lost: nothing was lost.
            self._renewing = True
            await self._ws.close()

    async def run(self) -> None:
        """Connect and reconnect until cancelled or the token is refused."""
        attempt = 0
        while True:
            url: str | None = None
            try:
                self._post(Connection.Connecting(None, attempt))
                url, token = await self._endpoint()
                self._post(Connection.Connecting(url, attempt))
                if await self._session(url, token):
                    attempt = 0
                if self._renewing:
                    self._renewing = False
                    continue
                reason = "the server closed the connection"
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    self._post(Connection.AuthRefused(refused(status)))
                    return
                if self.fallback and url is not None:
                    raise UpgradeRefused(url, status) from exc
                reason = f"the server answered HTTP {status}"
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                reason = unreachable(url, exc)
            except Exception as exc:
                # A companion that cannot start, and anything unforeseen, is retried too.
                log.warning("connection attempt failed", exc_info=True)
                reason = str(exc) or type(exc).__name__
            delay = backoff_delay(attempt, self._max_delay)
            attempt += 1
            log.info("link down (%s); retrying in %.1f s", reason, delay)
            self._post(Connection.Lost(reason, delay))
            await asyncio.sleep(delay)

    async def _session(self, url: str, token: str | None) -> bool:
        """One connection's lifetime; True if the handshake succeeded."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # websockets refuses an ssl argument for a ws:// URL and makes its own for wss://.
        tls: dict[str, Any] = {"ssl": self.tls} if self.tls and url.startswith("wss:") else {}
        async with connect(
            self.resume.url(url),
            additional_headers=headers,
            open_timeout=self._open_timeout,
            ping_interval=self._ping[0],
            ping_timeout=self._ping[1],
            # A dead link is noticed by the pings; don't then wait 10 s for a closing handshake.
            close_timeout=min(2.0, self._ping[1]),
            max_size=None,
            proxy=None,
            **tls,
        ) as ws:
            await self._greeting(ws)
            self._ws = ws
            log.info("connected to %s", url)
            self._post(Connection.Connected(url))
            try:
                await self._pump(ws)
            finally:
                self._ws = None
        return True

    async def _greeting(self, ws: ClientConnection) -> None:
        """Read session.created or session.resumed before anything else is sent."""
        frame = await asyncio.wait_for(ws.recv(), self._open_timeout)
        event = p.decode_text(frame) if isinstance(frame, str) else {}
        if event.get("type") == p.SESSION_RESUMED:
            log.info("resumed session; %s events replayed", event.get("replayed"))
            self._post(Connection.SessionResumed(int(event.get("replayed") or 0)))
            return
        if event.get("type") != p.SESSION_CREATED:
            raise p.ProtocolError("unexpected_greeting", "The server did not start a session.")
        session = event.get("session") or {}
        replaced = self.resume.begin(str(session.get("id", "")), event.get("seq"))
        if replaced:
            # Events queued for the lost session must not reach the new one.
            self._outbox = asyncio.Queue()
        self._post(session_started(event, replaced=replaced))

    async def _pump(self, ws: ClientConnection) -> None:
        """One consumer and one producer; when either ends, the other is cancelled."""
        tasks = {asyncio.create_task(self._consume(ws)), asyncio.create_task(self._produce(ws))}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Also when we are cancelled (the app quits): no task may outlive the link.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None and not isinstance(error, ConnectionClosed):
                raise error

    async def _consume(self, ws: ClientConnection) -> None:
        async for frame in ws:
            try:
                message, seq = translate(frame)
                if not self.resume.fresh(seq):
                    continue  # already processed before the connection dropped
            except p.ProtocolError as exc:
                log.warning("ignoring a malformed frame: %s", exc.message)
                continue
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("ignoring an event with missing or wrong fields: %r", exc)
                continue
            if message is not None:
                self._post(message)

    async def _produce(self, ws: ClientConnection) -> None:
        while True:
            event = await self._outbox.get()
            await ws.send(p.encode(event))
