"""A TCP proxy on loopback that adds distance, or holds WebSocket upgrades until released.

Distance: every segment, in each direction, is delivered ``one_way_ms`` after it arrived
(order kept, segments in flight together, as on a long link). The TCP handshake a real
distance costs is modelled too: a new connection's first bytes towards the server leave
no earlier than one round trip after the connect (the SYN and SYN-ACK), as a client
cannot send before its handshake completes. Loopback only.

Holding: with ``hold_upgrades`` a connection whose first bytes ask for a WebSocket
upgrade waits for ``release()`` (the proxy must see plain HTTP: put it behind nginx's
TLS, not in front of it), so a test decides when the WebSocket can connect.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self

_READ = 65536


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target``; ``port`` is set on entry."""

    def __init__(self, target: int, one_way_ms: float = 0.0, *, hold_upgrades: bool = False):
        self.target, self.delay = target, one_way_ms / 1000
        self.port = 0
        self.upgrades_held = 0
        self._released = asyncio.Event()
        if not hold_upgrades:
            self._released.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    def release(self) -> None:
        """Let held WebSocket upgrades (and any later ones) through."""
        self._released.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        loop = asyncio.get_running_loop()
        handshake_done = loop.time() + 2 * self.delay  # SYN there, SYN-ACK back
        up_writer: asyncio.StreamWriter | None = None
        try:
            first = await reader.read(_READ)
            if b"upgrade: websocket" in first.lower() and not self._released.is_set():
                self.upgrades_held += 1
                await self._released.wait()
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
            await asyncio.gather(
                self._pipe(reader, up_writer, first, not_before=handshake_done),
                self._pipe(up_reader, writer, b"", not_before=0.0),
            )
        except OSError:
            pass
        finally:
            self._tasks.discard(task)
            for end in (writer, up_writer):
                if end is not None:
                    end.close()

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, first: bytes, not_before: float
    ) -> None:
        """Copy ``src`` to ``dst``, each segment ``delay`` after it arrived (or could leave)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        def arrived(data: bytes) -> None:
            queue.put_nowait((max(loop.time(), not_before) + self.delay, data))

        async def read() -> None:
            try:
                if first:
                    arrived(first)
                while data := await src.read(_READ):
                    arrived(data)
            except OSError:
                pass  # a reset ends this direction as an EOF would
            finally:
                arrived(b"")

        reading = asyncio.create_task(read())
        try:
            while True:
                due, data = await queue.get()
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if dst.can_write_eof():
                        dst.write_eof()
                    return
                dst.write(data)
                await dst.drain()
        finally:
            reading.cancel()
