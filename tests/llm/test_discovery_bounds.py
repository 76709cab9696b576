"""Every upstream read that is not the answer stream has a byte cap and a total deadline,
and discovery never holds an answer back (an upstream whose /props never ends, whose
/api/show trickles for 12 s, whose /v1/models never ends)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx
import pytest

from server import protocol as p
from server.errors import UpstreamError
from server.llm.chat_completions import ChatCompletionsLLM
from server.llm.discovery import PROBE_TIMEOUT, context_window, list_models
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.client import Client
from tests.helpers.server import ServerFactory, http_get

# What the kernel may hold between the fake and us on loopback, besides what we read.
SOCKET_SLACK = 16 << 20


async def test_a_props_body_that_never_ends_is_cut_off(fake_llm: FakeLLM) -> None:
    fake_llm.probe_faults = {"/props": "endless", "/api/show": "endless"}
    async with httpx.AsyncClient() as client:
        started = time.monotonic()
        window = await asyncio.wait_for(context_window(client, fake_llm.base_url, "m"), 10)
    assert window is None
    assert time.monotonic() - started < 2 * PROBE_TIMEOUT + 1
    await asyncio.sleep(0.2)
    assert 0 < fake_llm.fault_bytes_sent["/props"] < SOCKET_SLACK


async def test_a_model_list_that_never_ends_is_none(fake_llm: FakeLLM) -> None:
    fake_llm.probe_faults = {"/v1/models": "endless"}
    async with httpx.AsyncClient() as client:
        assert await asyncio.wait_for(list_models(client, fake_llm.base_url), 10) is None
    assert fake_llm.fault_bytes_sent["/v1/models"] < SOCKET_SLACK


async def test_a_trickling_probe_is_given_up_at_its_deadline(fake_llm: FakeLLM) -> None:
    fake_llm.probe_faults = {"/props": "trickle"}
    fake_llm.states = "show"
    fake_llm.window = 4096
    async with httpx.AsyncClient() as client:
        # /props trickles for 12 s: abandoned at the deadline, and Ollama's answer used.
        window = await asyncio.wait_for(context_window(client, fake_llm.base_url, "m"), 10)
    assert window == 4096


async def test_discovery_never_holds_the_first_answer_back(
    start_server: ServerFactory, fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.probe_faults = {"/props": "trickle", "/api/show": "trickle", "/v1/models": "endless"}
    caplog.set_level(logging.INFO, "talkterm.server")
    started = time.monotonic()
    server = await start_server()
    # The server starts on time and says in one line that the list could not be read.
    assert time.monotonic() - started < 2
    assert (await http_get(server.ws_url, "/healthz"))[0] == 200
    fake_llm.enqueue(Reply(chunks=["here ", "it ", "is"]))
    client = await Client.open(server.ws_url)
    asked = time.monotonic()
    await client.ask("hello")
    await client.read_until(p.TRANSCRIPT_DELTA)
    # Before: 12.8 s behind /api/show's trickle. The probe goes on in the background.
    assert time.monotonic() - asked < 3
    await client.close()
    for _ in range(100):
        if any("model list could not be read" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.05)
    lines = [r for r in caplog.records if "model list could not be read" in r.getMessage()]
    assert len(lines) == 1


async def test_one_probe_per_model_however_many_answers_ask(fake_llm: FakeLLM) -> None:
    fake_llm.probe_faults = {"/props": "trickle", "/api/show": "trickle"}
    llm = ChatCompletionsLLM(base_url=fake_llm.base_url, model="m", read_timeout=5)
    try:
        started = time.monotonic()
        windows = await asyncio.gather(*(llm.context_window("m") for _ in range(20)))
        # Nobody waits for the trickle: each answer goes on with the budget it has.
        assert windows == [None] * 20 and time.monotonic() - started < 2
        probes = [r for r in fake_llm.requests if r.path in ("/props", "/api/show")]
        assert [r.path for r in probes] == ["/props"]  # one, still running
    finally:
        await llm.aclose()


async def test_an_error_body_that_trickles_is_cut_at_its_deadline() -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            while True:  # "overloaded…" a byte every half second, for ever
                writer.write(b"1\r\no\r\n")
                await writer.drain()
                await asyncio.sleep(0.5)

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    llm = ChatCompletionsLLM(base_url=f"http://127.0.0.1:{port}/v1", model="m", read_timeout=5)
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamError, match="ooo"):
            async with asyncio.timeout(20):
                async for _ in llm.stream([{"role": "user", "content": "hi"}]):
                    pass
        assert time.monotonic() - started < 8  # before: for as long as the body trickled
    finally:
        await llm.aclose()
        server.close()
