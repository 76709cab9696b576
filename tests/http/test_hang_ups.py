"""A client hanging up mid-stream costs one INFO line of ours (no asyncio warning), and
SIGTERM during an open HTTP stream exits cleanly with no traceback."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import struct

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.server import ServerFactory
from tests.helpers.server_process import ready_line, spawn

ASK = json.dumps(
    {"model": "m", "messages": [{"role": "user", "content": "talk"}], "stream": True}
).encode()
HEAD = (
    "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    f"Content-Type: application/json\r\nContent-Length: {len(ASK)}\r\n\r\n"
).encode()


async def start_stream(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A streaming request whose answer has begun arriving."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEAD + ASK)
    assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"HTTP/1.1 200")
    await asyncio.wait_for(reader.readuntil(b"data: "), 10)
    return reader, writer


def hang_up_hard(writer: asyncio.StreamWriter) -> None:
    """Close with a reset, as a killed client does: the server's next write fails."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def test_a_hang_up_mid_stream_logs_one_info_line(
    start_server: ServerFactory, fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = await start_server()
    for _ in range(5):
        fake_llm.enqueue(Reply(chunks=["word "] * 50_000))
        _, writer = await start_stream(server.port)
        hang_up_hard(writer)
    await fake_llm.wait_disconnect(timeout=10, count=5)
    assert server.services is not None
    for _ in range(200):
        if server.services.http_answers == 0:
            break
        await asyncio.sleep(0.02)
    hung = [r for r in caplog.records if "hung up" in r.getMessage()]
    assert len(hung) == 5 and all(r.levelno == logging.INFO for r in hung)
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == [], [r.getMessage() for r in warned]


async def test_sigterm_during_an_open_stream_exits_without_a_traceback(
    fake_llm: FakeLLM,
) -> None:
    proc = await spawn(
        "--port", "0", "--tts", "none", "--llm-base-url", fake_llm.base_url, "--llm-model", "m"
    )
    ready = await ready_line(proc)
    port = int(ready["listening"].rsplit(":", 1)[1].split("/")[0])
    fake_llm.enqueue(Reply(chunks=["word "] * 5_000, delay=0.01))
    _, writer = await start_stream(port)
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 15) == 0
    _, err = await proc.communicate()
    assert b"Traceback" not in err and b"Exception in ASGI" not in err, err.decode()[-2000:]
    assert b"shutting down" in err
    writer.close()
