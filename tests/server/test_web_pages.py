"""Web pages kept out: Origin, Host and content type checked on both transports (no token
set, the weakest configuration; docs/security.md)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server.app import Server
from server.http.guard import Guard
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.client import Client
from tests.helpers.server import ServerFactory
from tests.helpers.server_process import clean_env, ready_line, spawn

ASK = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def ws_status(server: Server, **headers: str) -> int:
    """The status of a WebSocket handshake sent with these extra headers (101 if it opened)."""
    try:
        async with connect(server.ws_url, additional_headers=headers):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def raw_request(server: Server, head: str, body: bytes = b"") -> tuple[int, str]:
    """Send a hand-written request (any Host), return its status and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head.encode() + b"\r\n\r\n" + body)
    data = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    status_line, _, rest = data.decode(errors="replace").partition("\r\n")
    return int(status_line.split()[1]), rest.partition("\r\n\r\n")[2]


async def test_a_page_cannot_open_a_websocket(start_server: ServerFactory) -> None:
    server = await start_server()
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999", "file://"):
        assert await ws_status(server, Origin=origin) == 403, origin
    assert server.services is not None and not server.services.sessions
    # A native client sends no Origin and still connects.
    client = await Client.open(server.ws_url)
    await client.close()


async def test_an_allowed_origin_may_connect(start_server: ServerFactory) -> None:
    server = await start_server(allowed_origins="http://127.0.0.1:3000, http://app.test/")
    assert await ws_status(server, Origin="http://127.0.0.1:3000") == 101
    assert await ws_status(server, Origin="HTTP://APP.TEST") == 101
    assert await ws_status(server, Origin="http://127.0.0.1:3001") == 403


async def test_a_rebound_host_name_is_refused(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server()
    port = server.port
    status, body = await raw_request(
        server, f"GET /v1/models HTTP/1.1\r\nHost: evil.example:{port}"
    )
    assert status == 403 and json.loads(body)["error"]["code"] == "host_not_allowed"
    payload = json.dumps(ASK).encode()
    status, _ = await raw_request(
        server,
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: evil.example\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}",
        payload,
    )
    assert status == 403 and not fake_llm.chat_requests
    upgrade = (
        "GET /v1/realtime HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13"
    )
    assert (await raw_request(server, upgrade))[0] == 403
    assert (await raw_request(server, upgrade.replace("evil.example", "[::1]:1")))[0] == 101
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]", "LOCALHOST"):
        status, _ = await raw_request(server, f"GET /v1/models HTTP/1.1\r\nHost: {host}")
        assert status == 200, host


async def test_a_configured_host_name_is_allowed(start_server: ServerFactory) -> None:
    server = await start_server(allowed_hosts="talk.example")
    status, _ = await raw_request(server, "GET /v1/models HTTP/1.1\r\nHost: talk.example:443")
    assert status == 200
    status, _ = await raw_request(server, "GET /v1/models HTTP/1.1\r\nHost: other.example")
    assert status == 403


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_a_post_must_be_json(
    start_server: ServerFactory, fake_llm: FakeLLM, content_type: str | None
) -> None:
    server = await start_server()
    headers = {"content-type": content_type} if content_type else {}
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            server.http_url + "/v1/chat/completions", content=json.dumps(ASK), headers=headers
        )
    assert answer.status_code == 415
    assert answer.json()["error"]["code"] == "unsupported_content_type"
    assert not fake_llm.chat_requests


async def test_a_json_post_from_a_native_client_is_answered(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server()
    fake_llm.enqueue(Reply(chunks=["fine"]))
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            server.http_url + "/v1/chat/completions",
            json=ASK,
            headers={"content-type": "application/json; charset=utf-8"},
        )
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "fine"


async def test_a_post_from_a_page_is_refused_even_as_json(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server()
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            server.http_url + "/v1/chat/completions",
            json=ASK,
            headers={"origin": "http://evil.example"},
        )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "origin_not_allowed"
    assert not fake_llm.chat_requests


async def test_a_page_cannot_post_a_recording_form(start_server: ServerFactory) -> None:
    """The transcription upload is a multipart form (OpenAI's shape): a page's form POST
    carries an Origin, and that is refused; a native client's upload is taken."""
    server = await start_server()
    upload: dict[str, Any] = {"file": ("turn.wav", b"RIFF0000WAVE", "audio/wav")}
    form: dict[str, Any] = {"model": (None, "whisper-1")}
    async with httpx.AsyncClient() as http:
        page = await http.post(
            server.http_url + "/v1/audio/transcriptions",
            data={"model": "whisper-1"},
            files=upload,
            headers={"origin": "http://evil.example"},
        )
        native = await http.post(
            server.http_url + "/v1/audio/transcriptions", files=form | upload
        )
    assert page.status_code == 403 and page.json()["error"]["code"] == "origin_not_allowed"
    # Past the guard: this server has no recognizer, and says so (not 415).
    assert native.status_code != 415, native.text


async def test_a_server_started_without_a_token_makes_one_up(fake_llm: FakeLLM) -> None:
    env = clean_env()
    del env["TALKTERM_TOKEN"]
    proc = await spawn("--port", "0", "--tts", "none", "--llm-base-url", fake_llm.base_url, env=env)
    try:
        ready = await ready_line(proc)
        token = ready["token"]
        assert len(token) >= 24
        async with httpx.AsyncClient() as http:
            assert (await http.get(ready["http"] + "/models")).status_code == 401
            given = {"Authorization": f"Bearer {token}"}
            assert (await http.get(ready["http"] + "/models", headers=given)).status_code == 200
            assert (await http.get(ready["healthz"])).status_code == 200
    finally:
        proc.terminate()
        _, err = await proc.communicate()
    assert token.encode() not in err  # the log never shows it


async def test_a_given_token_is_not_echoed_and_no_token_means_none(fake_llm: FakeLLM) -> None:
    for flags, echoed in ((["--token", "tok-given"], False), (["--no-token"], False)):
        env = clean_env()
        del env["TALKTERM_TOKEN"]
        proc = await spawn(
            "--port",
            "0",
            "--tts",
            "none",
            "--llm-base-url",
            fake_llm.base_url,
            *flags,
            env=env,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            ready = await ready_line(proc)
            assert ("token" in ready) == echoed
            if flags == ["--no-token"]:
                async with httpx.AsyncClient() as http:
                    assert (await http.get(ready["http"] + "/models")).status_code == 200
        finally:
            proc.terminate()
            await proc.wait()


def test_host_names_this_machine_goes_by() -> None:
    loopback, everywhere = Guard("127.0.0.1"), Guard("0.0.0.0", hosts=["box.lan"])
    for host in ("localhost:8765", "localhost.", "127.0.0.1.", "[::1]:80", "LocalHost"):
        assert loopback.host_ok(host), host
    for host in ("evil.test:8765", "evil.localhost", "localhost.evil.test", "192.168.1.5"):
        assert not loopback.host_ok(host), host
    # Bound to every interface: the machine's addresses are its names, and listed names.
    assert everywhere.host_ok("192.168.1.5:8765") and everywhere.host_ok("box.lan")
    assert not everywhere.host_ok("rebound.example")
