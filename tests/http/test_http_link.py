"""The app's HTTP link against a server whose stream is not OpenAI's chunk shape."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server import protocol as p
from tests.helpers.waiting import wait_for
from tui.link.fallback import HttpOnlyLink, http_base
from tui.link.http import HttpLink
from tui.link.http_stream import MAX_LINE, sse_data
from tui.link.websocket import Connection

MODELS = b'{"object": "list", "data": [{"id": "m", "object": "model"}]}'


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """/v1/models answers; /v1/chat/completions streams one good chunk, then garbage."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    length = next(
        (int(line.split(":")[1]) for line in head.split("\r\n") if line.lower().startswith(
            "content-length")),
        0,
    )
    await reader.readexactly(length)
    if head.startswith("GET /v1/models"):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(MODELS)}\r\n\r\n".encode() + MODELS)
    else:
        good = b'data: {"choices": [{"delta": {"content": "Hel"}}]}\n\n'
        bad = b'data: <html>proxy error</html>\n\n'
        body = good + bad
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    writer.close()


@pytest.fixture
async def bad_server() -> AsyncIterator[str]:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.close()


async def test_a_stream_it_cannot_read_fails_the_answer_in_plain_words(bad_server: str) -> None:
    posted: list[Any] = []
    link = HttpLink(bad_server, None, posted.append)
    runner = asyncio.create_task(link.run())
    await wait_for(None, lambda: link.connected, what="connected")
    link.send({"type": p.ITEM_CREATE, "item": {"role": "user", "content": [{"text": "hi"}]}})
    link.send({"type": p.RESPONSE_CREATE})
    finished = lambda: [m for m in posted if isinstance(m, Connection.ResponseFinished)]  # noqa: E731
    await wait_for(None, finished, what="the answer ended")
    assert finished()[0].status == "failed"
    errors = [m for m in posted if isinstance(m, Connection.ServerError)]
    assert errors and "could not be read" in errors[0].message
    assert any(isinstance(m, Connection.TextArrived) for m in posted)  # what came is shown
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


async def test_sse_lines_are_joined_across_chunks_and_bounded() -> None:
    async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    parts = (b'data: {"a"', b": 1}\n\nda", b"ta: [DONE]\n")
    got = [d async for d in sse_data(chunks(*parts))]
    assert got == ['{"a": 1}', "[DONE]"]
    endless = chunks(*([b"x" * 65536] * (MAX_LINE // 65536 + 2)))
    with pytest.raises(ConnectionResetError, match="line over"):
        [d async for d in sse_data(endless)]


def test_the_http_base_keeps_a_proxy_path_prefix() -> None:
    assert http_base("ws://127.0.0.1:8765/v1/realtime") == "http://127.0.0.1:8765"
    assert http_base("wss://example.org/talk/v1/realtime?x=1") == "https://example.org/talk"
    assert http_base("ws://host:1") == "http://host:1"


@pytest.mark.parametrize(
    "body",
    [b"<!doctype html><html><body>Welcome to nginx!</body></html>", b'{"data":[{}]}', b"[1, 2]"],
    ids=["html", "entry-without-id", "a-list"],
)
async def test_a_200_that_is_not_a_model_list_is_a_lost_link_that_retries(body: bytes) -> None:
    asked: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.append((await reader.readuntil(b"\r\n\r\n")).decode().split(" ")[1])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    posted: list[Any] = []
    runner = asyncio.create_task(HttpOnlyLink(url, None, posted.append).run())
    try:
        await wait_for(None, lambda: len(asked) >= 2, what="a second try")
        lost = [m for m in posted if isinstance(m, Connection.Lost)]
        assert lost[0].reason == f"the server at {url} did not answer as a talkterm/OpenAI server"
        assert not any(isinstance(m, Connection.Connected) for m in posted)
        assert asked[:2] == ["/v1/models", "/v1/models"]
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        server.close()
