"""Health check, token checks, binding rules, keepalive, missing espeak-ng, secrets."""

from __future__ import annotations

import base64
import logging
import os
import socket

import pytest
from websockets.exceptions import InvalidStatus

from server import protocol as p
from server.errors import InsecureBinding
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.client import Client, connected
from tests.helpers.server import SECRET_KEY, http_get, make_settings


async def test_healthz(server) -> None:
    status, _ = await http_get(server.ws_url, "/healthz")
    assert status == 200


async def test_unknown_path_is_404(server) -> None:
    status, body = await http_get(server.ws_url, "/nope")
    assert status == 404 and "/v1/realtime" in body


async def test_right_token_gets_a_session(start_server) -> None:
    server = await start_server(token="s3cret")
    client = await Client.open(server.ws_url, token="s3cret")
    assert client.session["type"] == p.SESSION_CREATED
    await client.close()


@pytest.mark.parametrize("token", [None, "wrong", "s3cre", "s3cret-and-more"])
async def test_wrong_or_missing_token_is_401(start_server, token: str | None) -> None:
    server = await start_server(token="s3cret")
    with pytest.raises(InvalidStatus) as refused:
        await Client.open(server.ws_url, token=token)
    assert refused.value.response.status_code == 401


def test_non_loopback_without_token_is_refused() -> None:
    from server.app import Server

    with pytest.raises(InsecureBinding, match="token"):
        Server(make_settings(host="0.0.0.0"))
    Server(make_settings(host="0.0.0.0", token="t"))  # with a token it is allowed


async def test_dead_peer_is_dropped_and_its_upstream_closed(
    fake_llm: FakeLLM, start_server
) -> None:
    server = await start_server(
        ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3, resume_grace=0.2
    )
    # A hand-made client that completes the handshake, asks, then never reads or pongs.
    host, port = "127.0.0.1", server.port
    sock = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /v1/realtime HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    fake_llm.enqueue(Reply(chunks=["word "] * 400, delay=0.02))
    for event in (p.user_text_item("talk"), {"type": p.RESPONSE_CREATE}):
        sock.sendall(masked_text_frame(p.encode(event).encode()))
    await fake_llm.wait_disconnect(timeout=3)
    sock.close()


def masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        head = bytes([0x81, 0x80 | len(payload)])
    else:
        head = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big")
    return head + mask + body


async def test_missing_espeak_means_text_only_with_a_reason(
    fake_llm: FakeLLM, start_server
) -> None:
    server = await start_server(espeak_executable="espeak-ng-not-installed")
    async with connected(server.ws_url) as client:
        error = await client.expect(p.ERROR)
        assert error["error"]["code"] == "tts_unavailable"
        assert "espeak" in error["error"]["message"]
        fake_llm.enqueue(Reply(chunks=["Text only. Still fine."]))
        got = await client.answer("hi")
    assert got.text() == "Text only. Still fine." and not got.audio
    assert got.done["status"] == "completed"


async def test_api_key_never_leaves_the_server(
    fake_llm: FakeLLM, start_server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await start_server(llm_api_key=SECRET_KEY)
    fake_llm.enqueue(
        Reply(chunks=["ok."]),
        Reply(chunks=[], status=401, body=f'{{"error": {{"message": "bad key {SECRET_KEY}"}}}}'),
    )
    async with connected(server.ws_url) as client:
        seen = [str(client.session)]
        for _ in range(2):
            seen.append(str((await client.answer("hi")).events))
    headers = {k.lower(): v for k, v in fake_llm.requests[0].headers.items()}
    assert headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert SECRET_KEY not in "".join(seen)
    assert SECRET_KEY not in caplog.text
