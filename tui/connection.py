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
import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.message import Message
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from server import protocol as p
from tui import link as wire
from tui.companion import CompanionEndpoint
from tui.config import Settings
from tui.errors import NotConnected, UpgradeRefused
from tui.link import Endpoint, FixedEndpoint, Link, backoff_delay, refused, unreachable
from tui.resume import ResumePoint

__all__ = ["Connection", "Endpoint", "FixedEndpoint", "Link", "NotConnected", "backoff_delay"]

log = logging.getLogger("talkterm.connection")

Post = Callable[[Message], Any]


class Connection:
    """One client link to the server, kept open by reconnecting."""

    # -- what happened to the link ----------------------------------------------

    @dataclass
    class Connecting(Message):
        """An attempt to connect has begun."""

        url: str | None
        attempt: int

    @dataclass
    class Connected(Message):
        """The WebSocket handshake succeeded (or HTTP streaming answers, for a fallback)."""

        url: str
        transport: str = ""
        """A transport other than the WebSocket, named in the status line ("HTTP streaming")."""

    @dataclass
    class Lost(Message):
        """The link is down (or never came up); the next attempt is in ``retry_in`` s."""

        reason: str
        retry_in: float

    @dataclass
    class AuthRefused(Message):
        """The server refused our token; no further attempts are made."""

        reason: str

    # -- what the server said -----------------------------------------------------

    @dataclass
    class SessionStarted(Message):
        """``session.created``: which LLM and speech engine the server uses.

        ``replaced`` is True when we asked to resume a session and the server started a
        new one instead: whatever was in flight is lost and the conversation must be
        sent again.
        """

        llm: str
        tts: str
        demo: bool
        replaced: bool = False
        models: list[str] | None = None
        """Models the server can answer with (None: it did not say)."""
        voices: list[str] | None = None
        """Voices its speech engine offers (None: it did not say)."""

    @dataclass
    class SessionUpdated(Message):
        """``session.updated``: the server took a session.update (and may list choices anew)."""

        models: list[str] | None = None
        voices: list[str] | None = None

    @dataclass
    class SessionResumed(Message):
        """``session.resumed``: the server replays what we missed; nothing is lost."""

        replayed: int

    @dataclass
    class ResponseStarted(Message):
        """``response.created``."""

        response_id: str

    @dataclass
    class ItemStarted(Message):
        """``response.output_item.added``: the assistant item to truncate later."""

        response_id: str
        item_id: str

    @dataclass
    class TextArrived(Message):
        """A transcript or text delta."""

        response_id: str
        delta: str

    @dataclass
    class SegmentAnnounced(Message):
        """``response.output_audio.segment``: one sentence's audio follows."""

        response_id: str
        index: int
        char_start: int
        char_end: int
        audio_start_ms: float
        format: str

    @dataclass
    class AudioArrived(Message):
        """One audio delta (binary frame or base64 event)."""

        response_id: str
        audio: bytes

    @dataclass
    class ResponseFinished(Message):
        """``response.done``."""

        response_id: str
        status: str
        timings: dict[str, float | None] = field(default_factory=dict)

    @dataclass
    class ResponsePaused(Message):
        """``response.paused``."""

        response_id: str

    @dataclass
    class ResponseResumed(Message):
        """``response.resumed``."""

        response_id: str

    @dataclass
    class ServerError(Message):
        """An ``error`` event, with the server's plain-words message."""

        code: str
        message: str

    # -----------------------------------------------------------------------------

    def __init__(
        self,
        endpoint: Endpoint,
        post: Post,
        *,
        open_timeout: float = 10.0,
        ping_interval: float = 20.0,
        ping_timeout: float = 20.0,
        max_delay: float = 15.0,
    ) -> None:
        self._endpoint = endpoint
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

    @classmethod
    def from_settings(cls, settings: Settings, post: Post) -> Connection:
        """The link the settings describe: --server, or a companion server of our own."""
        endpoint: Endpoint = (
            FixedEndpoint(settings.server, settings.token_value)
            if settings.server
            else CompanionEndpoint(
                ready_within=settings.connect_timeout + 5, extra_env=settings.companion
            )
        )
        return cls(
            endpoint,
            post,
            open_timeout=settings.connect_timeout,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            max_delay=settings.reconnect_max_delay,
        )

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
        self._post(_session_started(event, replaced=replaced))

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


# -- server event → message -------------------------------------------------------


def translate(frame: str | bytes) -> tuple[Message | None, int | None]:
    """Turn one server frame into (message or None if ignored, its seq if numbered)."""
    if isinstance(frame, bytes):
        audio = p.decode_audio_frame(frame)
        response_id = str(audio.header.get("response_id", ""))
        return Connection.AudioArrived(response_id, audio.audio), audio.header.get("seq")
    event = p.decode_text(frame)
    build = _BUILDERS.get(event["type"])
    return (build(event) if build is not None else None), event.get("seq")


def _session_started(event: dict[str, Any], *, replaced: bool = False) -> Message:
    ext = _extension(event)
    return Connection.SessionStarted(
        str(ext.get("llm", "?")),
        str(ext.get("tts", "?")),
        bool(ext.get("demo")),
        replaced,
        models=wire.choices(ext.get("models")),
        voices=wire.choices(ext.get("voices")),
    )


def _session_updated(event: dict[str, Any]) -> Message | None:
    """Only an update that lists models or voices tells the app something."""
    ext = _extension(event)
    models, voices = wire.choices(ext.get("models")), wire.choices(ext.get("voices"))
    return None if models is None and voices is None else Connection.SessionUpdated(models, voices)


def _extension(event: dict[str, Any]) -> dict[str, Any]:
    session = event.get("session")
    ext = session.get("talkterm") if isinstance(session, dict) else None
    return ext if isinstance(ext, dict) else {}


def _response_finished(event: dict[str, Any]) -> Message:
    response = event.get("response") or {}
    return Connection.ResponseFinished(
        str(response.get("id", "")), str(response.get("status", "")), response.get("timings") or {}
    )


def _segment(event: dict[str, Any]) -> Message:
    return Connection.SegmentAnnounced(
        event.get("response_id", ""),
        int(event.get("segment_index", 0)),
        int(event.get("char_start", 0)),
        int(event.get("char_end", 0)),
        float(event.get("audio_start_ms", 0.0)),
        str(event.get("format", "audio/pcm")),
    )


def _base64_audio(event: dict[str, Any]) -> Message:
    return Connection.AudioArrived(event.get("response_id", ""), base64.b64decode(event["delta"]))


def _error(event: dict[str, Any]) -> Message:
    error = event.get("error") or {}
    return Connection.ServerError(
        str(error.get("code") or "error"),
        str(error.get("message") or "The server reported an error."),
    )


_BUILDERS: dict[str, Callable[[dict[str, Any]], Message | None]] = {
    p.SESSION_CREATED: _session_started,
    p.SESSION_UPDATED: _session_updated,
    p.RESPONSE_CREATED: lambda e: Connection.ResponseStarted(str((e.get("response") or {})["id"])),
    p.OUTPUT_ITEM_ADDED: lambda e: Connection.ItemStarted(
        e.get("response_id", ""), str((e.get("item") or {}).get("id", ""))
    ),
    p.TRANSCRIPT_DELTA: lambda e: Connection.TextArrived(e.get("response_id", ""), e["delta"]),
    p.TEXT_DELTA: lambda e: Connection.TextArrived(e.get("response_id", ""), e["delta"]),
    p.AUDIO_SEGMENT: _segment,
    p.AUDIO_DELTA: _base64_audio,
    p.RESPONSE_DONE: _response_finished,
    p.RESPONSE_PAUSED: lambda e: Connection.ResponsePaused(e.get("response_id", "")),
    p.RESPONSE_RESUMED: lambda e: Connection.ResponseResumed(e.get("response_id", "")),
    p.ERROR: _error,
}
