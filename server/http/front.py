"""One port for both transports: uvicorn parses HTTP, websockets runs WebSockets.

Every connection starts in uvicorn's h11 protocol, a full HTTP/1.0 and 1.1
parser, so ordinary requests (nginx's default upstream is HTTP/1.0 POST) reach
the ASGI app. A WebSocket upgrade is handed over, transport and request bytes,
to a ``websockets`` connection, which then runs exactly as it did when
``websockets`` owned the socket: its handshake with ``process_request`` (401
before the upgrade), keepalive pings, the frame size limit (1009), no
compression and the session's own judging of text frames. After the hand-over
uvicorn is out of the data path; the relay costs what it did (docs/transports.md).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState
from websockets.asyncio.server import Server as WSServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from server.http.stall import remember_transport, shrink_send_buffer

log = logging.getLogger("talkterm.server")

ProcessRequest = Callable[[ServerConnection, Request], Response | None]
Handler = Callable[[ServerConnection], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WSOptions:
    """How every WebSocket connection is set up."""

    max_size: int
    ping_interval: float | None
    ping_timeout: float | None
    close_timeout: float
    connection_class: type[ServerConnection]


class Front:
    """The listening socket: HTTP to an ASGI app, upgrades to a ``websockets`` handler."""

    def __init__(
        self,
        *,
        app: Callable[..., Awaitable[None]],
        handler: Handler,
        process_request: ProcessRequest,
        options: WSOptions,
    ) -> None:
        self._options = options
        self._state = ServerState()
        # Built but not awaited: websockets' own connection lifecycle (handshake with
        # process_request, keepalive, handler, close), listening through _listen instead.
        self.ws: WSServer = _ws_server(
            serve(
                handler,
                process_request=process_request,
                server_header="talkterm",
                compression=None,
                max_size=options.max_size,
            )
        )
        self._config = uvicorn.Config(
            app,
            http=HTTPProtocol,
            ws=self._handover,  # type: ignore[arg-type]  # any callable that makes a protocol
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            headers=[("server", "talkterm")],
        )
        self._config.load()
        self._state.default_headers = list(self._config.encoded_headers)
        self._host = ""
        self._port = 0

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets."""
        return self.ws.sockets

    async def start(self, host: str, port: int) -> None:
        """Bind and start accepting connections."""
        self._host, self._port = host, port
        if hasattr(self.ws, "wrap"):  # websockets 14-16: the Server adopts a listening socket
            self.ws.wrap(await self._listen())
            return
        self.ws.create_server = self._listen  # websockets >= 17: it calls this when awaited
        await self.ws

    async def close(self) -> None:
        """Stop listening, close WebSockets (1001) and end HTTP connections.

        An answer still streaming has its connection dropped, so it ends as after any
        hang-up (its upstream closed, one line logged); cancelling its task instead made
        uvicorn log "Exception in ASGI application" with a traceback at every SIGTERM.
        """
        self.ws.close()
        for connection in list(self._state.connections):
            connection.shutdown()
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and not cycle.response_complete:
                connection.transport.abort()
        tasks = list(self._state.tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=self._options.close_timeout)
        for task in tasks:
            task.cancel()
        await self.ws.wait_closed()

    async def _listen(self) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(self._http_protocol, self._host, self._port)

    def _http_protocol(self) -> asyncio.Protocol:
        return self._config.http_protocol_class(  # type: ignore[call-arg]
            config=self._config, server_state=self._state, app_state={}
        )

    def _handover(self, **_: Any) -> asyncio.Protocol:
        """What uvicorn calls for an upgrade request: a websockets connection in disguise."""
        o = self._options
        protocol = ServerProtocol(max_size=o.max_size, logger=self.ws.logger)
        connection = o.connection_class(
            protocol,
            self.ws,
            ping_interval=o.ping_interval,
            ping_timeout=o.ping_timeout,
            close_timeout=o.close_timeout,
        )
        return Handover(connection)


def _ws_server(made: Any) -> WSServer:
    """The websockets ``Server`` that ``serve()`` made, whichever websockets this is.

    websockets >= 17 returns the Server itself; 14-16 (what openai-agents allows) return a
    ``serve`` object holding it and a ``loop.create_server`` coroutine we never await.
    """
    if isinstance(made, WSServer):
        return made
    made.create_server.close()  # unawaited on purpose: _listen makes the listening socket
    server: WSServer = made.server
    return server


class HTTPProtocol(H11Protocol):
    """uvicorn's h11 protocol, passing on the bytes that followed an upgrade request,
    with a small send buffer and the transport in each request's scope (server/http/stall.py)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Shrink the kernel send buffer before anything is written."""
        shrink_send_buffer(transport)
        super().connection_made(transport)  # type: ignore[arg-type]

    def handle_events(self) -> None:
        """Parse as uvicorn does; a request's task, made but not yet run, finds the transport."""
        super().handle_events()
        scope = getattr(self, "scope", None)
        if scope is not None and scope.get("type") == "http":
            remember_transport(scope, self.transport)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        """Hand over; frames a client sent before the 101 arrived are handed over too."""
        # h11 stops at a request that may switch protocols and keeps what followed it.
        early, _ = self.conn.trailing_data
        super().handle_websocket_upgrade(event)
        if early:
            protocol = self.transport.get_protocol()
            protocol.data_received(bytes(early))  # type: ignore[attr-defined]


class Handover(asyncio.Protocol):
    """Passes a transport from uvicorn to a websockets connection, then steps aside."""

    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the websockets connection (and its handler task) on this transport."""
        self.connection.connection_made(transport)
        # uvicorn installs this object as the transport's protocol right after feeding it
        # the request; replace it by the connection itself so no frame passes through here.
        asyncio.get_running_loop().call_soon(transport.set_protocol, self.connection)

    def data_received(self, data: bytes) -> None:
        """Forward (the request head uvicorn rebuilt, or bytes before the swap)."""
        self.connection.data_received(data)

    def eof_received(self) -> bool | None:
        """Forward (websockets closes the transport itself)."""
        self.connection.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Forward."""
        self.connection.connection_lost(exc)

    def pause_writing(self) -> None:
        """Forward."""
        self.connection.pause_writing()

    def resume_writing(self) -> None:
        """Forward."""
        self.connection.resume_writing()
