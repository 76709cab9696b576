"""A draining worker, in process: what HAProxy and clients are told, and what still works."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from server import protocol as p
from server.scale.drain import drain
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client
from tests.helpers.resume import resume_url
from tests.helpers.server import ServerFactory, http_get
from tests.helpers.texts import LONG

ASK = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}


async def test_draining_refuses_new_work_and_lets_resumes_and_answers_finish(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(tts="none")
    assert server.services is not None
    client = await Client.open(server.ws_url)
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG), delay=0.01))
    await client.ask("long")
    got = await client.read_until(p.TRANSCRIPT_DELTA)

    server.services.draining = True
    # The health check says so (HAProxy's disable-on-404: out of rotation, connections kept).
    status, body = await http_get(server.ws_url, "/healthz")
    assert status == 404 and "draining" in body
    # A new session and a new HTTP answer get 503 in plain words (HAProxy retries them).
    with pytest.raises(InvalidStatus) as refused:
        await Client.open(server.ws_url)
    assert refused.value.response.status_code == 503
    assert b"shutting down" in refused.value.response.body
    async with httpx.AsyncClient() as http:
        answer = await http.post(server.http_url + "/v1/chat/completions", json=ASK)
    assert answer.status_code == 503 and "shutting down" in answer.text
    # A resume of a session it holds still gets in.
    client.ws.transport.abort()
    last = max(e["seq"] for e in got.events)
    again = await Client.open(resume_url(server, client, last), expect=p.SESSION_RESUMED)
    # And drain waits for the answer in flight, which arrives whole.
    cut = await drain(server.services, grace=20)
    await again.collect(got)
    assert cut == 0 and got.text() == LONG and got.done["status"] == "completed"
    await again.close()


async def test_drain_gives_up_after_its_grace(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(tts="none")
    assert server.services is not None
    client = await Client.open(server.ws_url)
    fake_llm.enqueue(Reply(chunks=["word "] * 2000, delay=0.02))
    await client.ask("endless")
    await client.read_until(p.TRANSCRIPT_DELTA)
    assert await drain(server.services, grace=0.2) == 1
    await client.close()
