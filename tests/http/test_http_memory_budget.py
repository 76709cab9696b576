"""HTTP answers count what they hold for their clients in the server's memory budget (the
one WebSocket replay buffers share): past it, the answer holding the most is ended with a
clear error, and every other answer carries on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from server.app import Server
from server.session.replay import ReplayBudget
from tests.fakes.endless_upstream import ThreadedFakeLLM, endless
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.raw_http import chat_post, open_raw, read_stream
from tests.helpers.server import ServerFactory
from tests.helpers.upstream_pace import upstream_closed
from tests.helpers.waiting import wait_for

BUDGET = 1 << 20
ANSWER_CHARS = 1 << 20
# Each stalled answer holds its full outbox (384 KiB) and 64 queued chunks (~80 KB): two
# fit in the budget, a third does not.
OUTBOX = 384 << 10
ASK = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "talk"}]}


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    """The fake upstream on its own loop: a fast endless stream must not starve the server's."""
    async with ThreadedFakeLLM() as fake:
        yield fake


async def budget_server(start_server: ServerFactory) -> Server:
    """A server whose memory budget holds two stalled answers, never dropping a stall by time."""
    return await start_server(
        replay_budget_bytes=BUDGET,
        response_buffer_bytes=OUTBOX,
        stalled_write_timeout=120.0,
        max_output_tokens="inf",
        answer_chars=ANSWER_CHARS,
    )


async def holds_more_than(budget: ReplayBudget, size: int) -> None:
    """Wait until the answers hold more than ``size`` bytes."""
    await wait_for(None, lambda: budget.used > size, what=f"{size} bytes held")


async def test_the_answer_holding_most_is_ended_and_the_others_carry_on(
    start_server: ServerFactory, fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "talkterm.server")
    server = await budget_server(start_server)
    services = server.services
    assert services is not None
    budget = services.replay_budget
    stalled = []
    for count in (1, 2, 3):
        fake_llm.enqueue(Reply(chunks=endless()))
        reader, writer = await open_raw(server, receive_buffer=4096)
        writer.write(chat_post(ASK))
        stalled.append((reader, writer))
        if count < 3:  # each fills its outbox and stops there, within the budget
            await holds_more_than(budget, count * OUTBOX)
    # The third pushed the budget over: one answer, the one holding most, was ended at once
    # (its upstream closed), long before any stalled-write timeout.
    await upstream_closed(fake_llm)
    assert budget.used <= BUDGET
    ended = [r for r in caplog.records if "over the memory budget" in r.getMessage()]
    assert len(ended) == 1
    # A bystander is answered as usual.
    fake_llm.enqueue(Reply(chunks=["fine"]))
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            server.http_url + "/v1/chat/completions", json=ASK | {"stream": False}
        )
    assert answer.json()["choices"][0]["message"]["content"] == "fine"
    # Now the stalled clients read: one finds its answer ended with the reason, the two others
    # get their whole answers, up to the cap.
    results = await asyncio.gather(*(read_stream(reader) for reader, _ in stalled))
    errors = [e[-1]["error"] for e in results if "error" in e[-1]]
    assert len(errors) == 1 and errors[0]["code"] == "memory_budget", errors
    assert "memory for answers in progress is full" in errors[0]["message"]
    whole = [e for e in results if e[-1] == "[DONE]"]
    assert len(whole) == 2
    for events in whole:
        chunks = [e for e in events if isinstance(e, dict) and e["choices"]]
        assert chunks[-1]["choices"][0]["finish_reason"] == "length"
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        assert len(text) == ANSWER_CHARS
    for _, writer in stalled:
        writer.close()
    await wait_for(None, lambda: services.http_answers == 0, what="slots freed")
    assert budget.used == 0


async def test_a_whole_spoken_answer_past_the_budget_is_a_503(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await budget_server(start_server)
    fake_llm.enqueue(Reply(chunks=endless()))
    # Built whole, the answer holds all its audio: about 22 s of speech is the whole budget.
    ask = ASK | {"stream": False, "modalities": ["text", "audio"]}
    ask |= {"audio": {"voice": "alloy", "format": "wav"}}
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(server.http_url + "/v1/chat/completions", json=ask)
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "memory_budget" and error["type"] == "server_error"
    await upstream_closed(fake_llm)
    services = server.services
    assert services is not None
    await wait_for(None, lambda: services.http_answers == 0, what="slot freed")
    assert services.replay_budget.used == 0
