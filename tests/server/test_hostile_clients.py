"""Hostile clients: a stolen session id, duplicate or malformed auth headers.

Each attack must leave other sessions untouched and the server's logs clean.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import os

import pytest

from server import protocol as p
from server.log_scrub import SecretScrubber
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client
from tests.helpers.resume import last_seq, resume_url
from tests.helpers.texts import LONG

TOKEN = "tok-SECRET-7d2e91aa"


async def raw_handshake(port: int, *headers: str) -> tuple[int, bytes]:
    """Send a WebSocket upgrade with these extra header lines; return status (0: none) and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /v1/realtime HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *headers,
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    async with asyncio.timeout(5):
        status = await reader.readline()
        rest = await reader.read(4096)
    writer.close()
    return (int(status.split()[1]) if status else 0), rest


async def test_a_refused_resume_leaves_the_owner_untouched(fake_llm: FakeLLM, server) -> None:
    owner = await Client.open(server.ws_url)
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG), delay=0.01))
    await owner.ask("a long answer")
    got = await owner.read_until(p.AUDIO_DELTA)
    # Someone who learnt the session id asks for events the session never sent.
    attacker = await Client.open(resume_url(server, owner, 10**9))
    assert attacker.session["session"]["id"] != owner.session["session"]["id"]
    assert (await attacker.expect(p.ERROR))["error"]["code"] == "resume_invalid_seq"
    await attacker.close()
    await owner.collect(got)
    assert got.done["status"] == "completed"
    assert got.text() == LONG
    # The owner's session is still resumable.
    owner.ws.transport.abort()
    again = await Client.open(resume_url(server, owner, last_seq(got)), expect=p.SESSION_RESUMED)
    assert again.session["session"]["id"] == owner.session["session"]["id"]
    await again.close()


async def test_two_authorization_headers_are_a_clean_400(
    start_server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await start_server(token=TOKEN)
    status, body = await raw_handshake(
        server.port, f"Authorization: Bearer {TOKEN}", "Authorization: Bearer other"
    )
    assert status == 400
    assert b"one Authorization header" in body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text
    # The server still serves a well-formed request.
    client = await Client.open(server.ws_url, token=TOKEN)
    await client.close()


async def test_a_malformed_header_holding_the_token_is_scrubbed_from_debug_logs(
    start_server,
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretScrubber([TOKEN]))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        server = await start_server(token=TOKEN)
        # A control character makes the header invalid; websockets quotes it in its error.
        status, _ = await raw_handshake(server.port, f"Authorization: Bearer {TOKEN}\x01")
        assert status != 101  # websockets hangs up without an answer
        logged = stream.getvalue()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert "invalid HTTP header" in logged  # the failure was logged, traceback included
    assert TOKEN not in logged
