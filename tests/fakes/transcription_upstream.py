"""A hostile OpenAI-compatible /v1/audio/transcriptions upstream: a real HTTP/1.1 server
on 127.0.0.1 that stalls, answers 500, streams deltas, or sends a body that never ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Final, Literal, Self

Mode = Literal["stall", "error", "endless", "stream"]
STREAMED: Final = ["Hello", " from", " a", " streaming", " recognizer."]


class FakeTranscriber:
    """Answers every transcription request the way ``mode`` says; records what it got."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.requests: list[bytes] = []
        self.headers: list[str] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of this fake."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            self.headers.append(head)
            length = next(
                int(line.split(":", 1)[1])
                for line in head.split("\r\n")
                if line.lower().startswith("content-length:")
            )
            self.requests.append(await reader.readexactly(length))
            await self._answer(writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(self, writer: asyncio.StreamWriter) -> None:
        if self.mode == "stall":
            await asyncio.Event().wait()
        if self.mode == "error":
            body = json.dumps({"error": {"message": "The recognizer fell over.", "type": "x"}})
            writer.write(
                f"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n{body}".encode()
            )
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
        deltas = STREAMED if self.mode == "stream" else iter(lambda: " more", None)
        for delta in deltas:
            event = {"type": "transcript.text.delta", "delta": delta}
            writer.write(f"data: {json.dumps(event)}\n\n".encode())
            await writer.drain()
            await asyncio.sleep(0.001)
        done = {"type": "transcript.text.done", "text": "".join(STREAMED)}
        writer.write(f"data: {json.dumps(done)}\n\n".encode())
        await writer.drain()
