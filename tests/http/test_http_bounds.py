"""HTTP answers held to the WebSocket's bounds: a stream nobody reads is dropped, a body
that never arrives ends in 408 and counts against admission, a whole spoken answer is
capped, and so is max_completion_tokens."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging

import httpx
import pytest

from server import protocol as p
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.raw_http import open_raw, post_head
from tests.helpers.server import ServerFactory
from tests.helpers.waiting import wait_for

HISTORY = [{"role": "user", "content": "talk"}]


async def test_a_stream_nobody_reads_is_dropped(
    start_server: ServerFactory, fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "talkterm.server")
    # No token cap: the server would cut this 24 MB answer at 32 KiB (answer_cap.py).
    server = await start_server(stalled_write_timeout=1.0, max_output_tokens="inf")
    assert server.services is not None
    fake_llm.enqueue(Reply(chunks=["many words, " * 20] * 100_000))
    body = json.dumps({"model": "m", "messages": HISTORY, "stream": True}).encode()
    reader, writer = await open_raw(server, receive_buffer=4096)
    writer.write(post_head(len(body)) + body)
    # The client never reads: after a second without progress the answer is dropped,
    # its upstream request closed and its slot freed.
    await fake_llm.wait_disconnect(timeout=20)
    services = server.services
    assert services is not None
    await wait_for(None, lambda: services.http_answers == 0, what="slot freed")
    data = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(1 << 20), 10):
            data += chunk
    except ConnectionResetError:
        pass
    assert data.startswith(b"HTTP/1.1 200")  # it got going, then was cut off
    assert not data.endswith(b"data: [DONE]\n\n")
    writer.close()
    said = [r.getMessage() for r in caplog.records]
    assert len([m for m in said if "read nothing for 1 s" in m]) == 1
    assert not [m for m in said if "hung up" in m]
    # Everyone else carries on.
    fake_llm.enqueue(Reply(chunks=["fine"]))
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            server.http_url + "/v1/chat/completions", json={"model": "m", "messages": HISTORY}
        )
    assert answer.json()["choices"][0]["message"]["content"] == "fine"


async def test_a_body_that_stalls_ends_in_408_and_holds_a_slot_meanwhile(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server(request_body_timeout=1.5, max_sessions=1)
    reader, writer = await open_raw(server)
    writer.write(post_head(4 << 20 - 1) + b'{"model": "m", ')
    services = server.services
    assert services is not None
    await wait_for(None, lambda: services.http_answers == 1, what="body counted")
    async with httpx.AsyncClient() as http:
        busy = await http.post(
            server.http_url + "/v1/chat/completions", json={"model": "m", "messages": HISTORY}
        )
    assert busy.status_code == 503
    answer = await asyncio.wait_for(reader.read(), 10)  # then the server closes
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
    assert b'"code":"body_timeout"' in rest
    assert services.http_answers == 0 and not fake_llm.chat_requests
    writer.close()


async def test_a_whole_spoken_answer_is_capped_and_says_so(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server(whole_audio_s=1.0)
    fake_llm.enqueue(Reply(chunks=["This sentence is spoken and it goes on. "] * 500, delay=0.02))
    ask = {
        "model": "m",
        "messages": HISTORY,
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "pcm16"},
    }
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(server.http_url + "/v1/chat/completions", json=ask)
    assert answer.status_code == 200
    choice = answer.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    pcm = base64.b64decode(choice["message"]["audio"]["data"])
    assert 0 < len(pcm) <= p.PCM_RATE * p.PCM_SAMPLE_WIDTH
    await fake_llm.wait_disconnect(timeout=10)  # the rest was never generated


async def test_max_completion_tokens_is_capped_as_on_the_websocket(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server()
    url = server.http_url + "/v1/chat/completions"
    fake_llm.enqueue(Reply(chunks=["ok"]))
    async with httpx.AsyncClient() as http:
        huge = await http.post(
            url, json={"model": "m", "messages": HISTORY, "max_completion_tokens": 10**400}
        )
        too_many = await http.post(
            url, json={"model": "m", "messages": HISTORY, "max_tokens": 131_073}
        )
        most = await http.post(
            url, json={"model": "m", "messages": HISTORY, "max_completion_tokens": 131_072}
        )
    assert huge.status_code == 400 and huge.json()["error"]["param"] == "max_completion_tokens"
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "max_tokens"
    assert most.status_code == 200
    assert len(fake_llm.chat_requests) == 1


async def test_bodies_on_their_way_share_one_budget(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server(request_bodies_bytes=4 << 20)
    _, first = await open_raw(server)
    first.write(post_head(4 << 20) + b" " * (3 << 20))  # 3 MiB of 4, then nothing
    second_reader, second = await open_raw(server)
    second.write(post_head(4 << 20) + b" " * (2 << 20))
    answer = b""
    with contextlib.suppress(ConnectionResetError):  # refused, then closed mid-body
        async with asyncio.timeout(10):
            while chunk := await second_reader.read(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 503") and b"bodies_over_budget" in answer
    # The first is still being received, and ends at its deadline as any stalled body.
    first.close()
    second.close()
    assert not fake_llm.chat_requests
