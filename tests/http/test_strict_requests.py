"""Strict where it should be: an ambiguous body length closes the connection, two
Authorization headers are refused, refusals are logged at a bounded rate."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from server.app import Server
from server.http.refusal_log import BoundedRefusals, RefusalLog
from tests.fakes.llm_upstream import FakeLLM
from tests.helpers.server import ServerFactory


async def exchange(server: Server, raw: bytes) -> bytes:
    """Send raw bytes, read until the server closes (or 5 s pass)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(raw)
    data = b""
    try:
        async with asyncio.timeout(5):
            while chunk := await reader.read(65536):
                data += chunk
    except TimeoutError:
        data += b"<still open>"
    writer.close()
    return data


async def test_content_length_with_transfer_encoding_is_refused_and_closed(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server()
    hidden = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    body = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        + f"Content-Length: {len(chunked) + len(hidden)}\r\n\r\n".encode()
    )
    answer = await exchange(server, request + chunked + hidden)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"ambiguous_length" in answer
    assert answer.count(b"HTTP/1.1") == 1  # the hidden request got no answer
    assert b"<still open>" not in answer  # the connection was closed
    assert not fake_llm.chat_requests


@pytest.mark.parametrize("path", ["/v1/models", "/v1/chat/completions"])
async def test_two_authorization_headers_are_refused(
    start_server: ServerFactory, fake_llm: FakeLLM, path: str
) -> None:
    server = await start_server(token="right")
    method = "GET" if path == "/v1/models" else "POST"
    body = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Authorization: Bearer wrong\r\nAuthorization: Bearer right\r\n"
        f"Content-Length: {len(body) if method == 'POST' else 0}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = await exchange(server, head + (body if method == "POST" else b""))
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"one Authorization header" in answer
    assert not fake_llm.chat_requests
    async with httpx.AsyncClient() as http:  # one right header still works
        ok = await http.get(
            server.http_url + "/v1/models", headers={"Authorization": "Bearer right"}
        )
    assert ok.status_code == 200


def test_refusals_are_logged_at_a_bounded_rate(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    refusals = RefusalLog(burst=3, window=60, clock=lambda: now[0])
    caplog.set_level(logging.INFO, "talkterm.server")
    for _ in range(1000):
        refusals.note("origin_not_allowed", "GET /v1/models")
    assert len(caplog.records) == 3
    now[0] = 61.0
    refusals.note("origin_not_allowed", "GET /v1/models")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5
    assert "refused 997 more requests" in lines[3]


def test_the_libraries_refusal_lines_are_bounded_too() -> None:
    now = [0.0]
    bounded = BoundedRefusals(burst=2, window=60, clock=lambda: now[0])

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("websockets.server", logging.INFO, "", 0, msg, (), None)

    passed = [bounded.filter(record("connection rejected (401 Unauthorized)")) for _ in range(50)]
    assert passed.count(True) == 2
    assert bounded.filter(record("listening on 127.0.0.1"))  # other lines pass untouched
    now[0] = 60.0
    later = record("Invalid HTTP request received.")
    assert bounded.filter(later) and "48 refusals not logged" in later.getMessage()
