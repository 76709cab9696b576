"""Helpers around one fuzzed server: a reader task, a normal turn, a bystander, a log watch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from server import protocol as p
from server.app import Server
from tests.fuzz.matcher import response_of
from tests.fuzz.upstream import BYSTANDER_PROMPT, BYSTANDER_TEXT
from tests.helpers.client import Client

Predicate = Callable[[list[dict[str, Any]]], bool]


class Collector:
    """Reads everything a session receives, so the server never blocks on a full socket."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.events: list[dict[str, Any]] = []
        self.closed: Exception | None = None
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                event = await self.client.recv(timeout=None)
                self.events.append(event.header if isinstance(event, p.AudioFrame) else event)
                self._changed.set()
        except (ConnectionClosed, p.ProtocolError) as exc:
            self.closed = exc
            self._changed.set()

    async def until(self, done: Predicate, what: str, timeout: float = 5) -> None:
        """Wait until ``done(events)``; fail on a close or a hang."""
        try:
            async with asyncio.timeout(timeout):
                while not done(self.events):
                    assert self.closed is None, (
                        f"connection closed waiting for {what}: {self.closed}"
                    )
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            tail = [e["type"] for e in self.events[-5:]]
            raise AssertionError(f"hang: no {what} within {timeout} s; last: {tail}") from None

    async def stop(self) -> None:
        """Stop reading (recv is safe to cancel: nothing is lost)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def error_with_id(event_id: str) -> Predicate:
    """True once an error echoing ``event_id`` has arrived."""
    return lambda events: any(
        e["type"] == p.ERROR and e["error"]["event_id"] == event_id for e in events
    )


async def normal_turn(client: Client, text: str, prompt: str = "normal turn") -> dict[str, Any]:
    """Ask, read the answer, check it completed with ``text``; return its response.done."""
    got = await client.answer(prompt)
    errors = [e for e in got.of(p.ERROR) if e["error"]["type"] == "invalid_request_error"]
    assert not errors, errors
    assert got.done["status"] == "completed", got.done
    strays = {r for e in got.events if (r := response_of(e)) and r != got.done["id"]}
    assert not strays, f"events of finished responses arrived later: {strays}"
    assert got.text() == text
    return {"response": got.done, "audio_ms": p.pcm_ms(len(got.audio))}


class Bystander:
    """A second session that streams long answers, one after another, during the fuzzing."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.turns = 0
        self._stopping = False
        self._turned = asyncio.Event()
        self._task = asyncio.create_task(self._loop())

    @classmethod
    async def open(cls, server: Server) -> Bystander:
        """Connect and start streaming."""
        return cls(await Client.open(server.ws_url))

    async def _loop(self) -> None:
        while not self._stopping:
            await normal_turn(self.client, BYSTANDER_TEXT, f"{BYSTANDER_PROMPT} {self.turns}")
            self.turns += 1
            self._turned.set()

    def check(self) -> None:
        """Fail if the bystander's session was disturbed."""
        if self._task.done():
            raise AssertionError("the bystander session broke") from self._task.exception()

    async def close(self) -> None:
        """Let it finish at least one answer, then stop streaming and hang up."""
        turned = asyncio.ensure_future(self._turned.wait())
        await asyncio.wait({turned, self._task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        turned.cancel()
        self.check()
        assert self.turns > 0, "the bystander never finished an answer"
        # Python 3.11's wait_for (inside Client.recv) can swallow a cancel, so the loop
        # also stops on the flag or when its connection closes under it.
        self._stopping = True
        self._task.cancel()
        await self.client.close()
        async with asyncio.timeout(5):
            await asyncio.gather(self._task, return_exceptions=True)


class ErrorLog(logging.Handler):
    """Collects ERROR records of the server and of websockets (a handler that raised)."""

    LOGGERS = ("talkterm", "websockets")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)

    def __enter__(self) -> ErrorLog:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)

    def check(self) -> None:
        """Fail, showing the first one, if anything was logged at ERROR."""
        if self.records:
            first = self.records[0]
            detail = self.format(first) if first.exc_info else first.getMessage()
            self.records.clear()
            raise AssertionError(f"server logged an error: {detail}")


async def healthz(server: Server) -> None:
    """GET /healthz answers 200: the listening server is alive."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), 5)
        assert status.split()[1] == b"200", status
    finally:
        writer.close()
