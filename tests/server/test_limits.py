"""Global limits: sessions, replay memory across sessions, synthesis for absent clients."""

from __future__ import annotations

import os

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server import protocol as p
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client
from tests.helpers.server import sessions
from tests.helpers.texts import LONG
from tests.helpers.waiting import stays, wait_for


def espeak_children() -> list[int]:
    """espeak-ng processes this (test and server) process runs now."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)
                name = fields[0].split("(", 1)[1]
                ppid = int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and name.startswith("espeak"):
            found.append(int(entry))
    return found


async def test_over_the_session_limit_a_new_client_gets_a_clear_503(start_server) -> None:
    server = await start_server(max_sessions=2)
    first, second = await Client.open(server.ws_url), await Client.open(server.ws_url)
    with pytest.raises(InvalidStatus) as refused:
        await connect(server.ws_url, open_timeout=5)
    response = refused.value.response
    assert response.status_code == 503
    assert "limit of 2 sessions" in response.body.decode()
    assert response.headers["Retry-After"]
    # A client resuming its own session is not a new session: it gets in.
    url = f"{server.ws_url}?{p.resume_query(first.session['session']['id'], 1)}"
    again = await Client.open(url, expect=p.SESSION_RESUMED)
    for client in (again, second):
        await client.close()


async def test_a_session_without_a_client_does_not_synthesise_until_it_resumes(
    fake_llm: FakeLLM, start_server
) -> None:
    server = await start_server(resume_grace=30)
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG * 4)))
    client = await Client.open(server.ws_url)
    await client.ask("Talk a while")
    got = await client.read_until(p.AUDIO_DELTA)
    client.ws.transport.abort()
    (session,) = sessions(server)
    await wait_for(None, lambda: session.outlet.ws is None, what="the drop noticed")
    await wait_for(None, lambda: not espeak_children(), what="synthesis in flight finished")
    await stays(None, lambda: not espeak_children(), 1.5, what="no synthesis while away")
    url = f"{server.ws_url}?{p.resume_query(session.id, max(e['seq'] for e in got.events))}"
    again = await Client.open(url, expect=p.SESSION_RESUMED)
    await again.collect(got, timeout=60)
    assert got.done["status"] == "completed"
    assert got.text() == LONG * 4
    await again.close()


async def test_http_answers_count_against_the_session_limit(
    fake_llm: FakeLLM, start_server
) -> None:
    """An HTTP answer holds an upstream stream like a session: at the limit it gets a 503."""
    server = await start_server(max_sessions=1, resume_grace=0)
    url = f"{server.http_url}/v1/chat/completions"
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
    client = await Client.open(server.ws_url)  # the one session the server takes
    async with httpx.AsyncClient(timeout=10) as http:
        busy = await http.post(url, json=body)
        assert busy.status_code == 503
        assert "limit of 1 sessions" in busy.json()["error"]["message"]
        await client.close()
        await wait_for(None, lambda: not sessions(server), timeout=5, what="session gone")
        fake_llm.enqueue(Reply(chunks=chunk_text("Hello there.")))
        answered = await http.post(url, json=body)
    assert answered.status_code == 200
    assert answered.json()["choices"][0]["message"]["content"] == "Hello there."
