"""Acceptance: the official openai SDK, unmodified, gets text and speech over HTTP."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from server import protocol as p
from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.server import ServerFactory

ANSWER = "Hello from the SDK test. Two sentences, spoken."
HISTORY: Any = [{"role": "user", "content": "Say hello"}]


def sdk(server: Any) -> AsyncOpenAI:
    return AsyncOpenAI(api_key="sdk-token", base_url=f"{server.http_url}/v1", max_retries=0)


async def test_sdk_streams_text_and_speech(fake_llm: FakeLLM, start_server: ServerFactory) -> None:
    server = await start_server(token="sdk-token")
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
    stream = await sdk(server).chat.completions.create(
        model="talkterm",
        messages=HISTORY,
        stream=True,
        stream_options={"include_usage": True},
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
    )
    transcript, audio, usage = "", b"", None
    async for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            part = choice.delta.audio
            if part is not None:
                transcript += part.transcript or ""
                audio += base64.b64decode(part.data or "")
    assert transcript == ANSWER
    assert len(audio) > p.PCM_RATE * p.PCM_SAMPLE_WIDTH // 2  # > 0.5 s of speech
    assert usage is not None and usage.total_tokens > 0


async def test_sdk_whole_answer_and_text_only(fake_llm: FakeLLM, server: Server) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)), Reply(chunks=chunk_text(ANSWER)))
    client = sdk(server)
    spoken = await client.chat.completions.create(
        model="talkterm", messages=HISTORY, modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
    )
    audio = spoken.choices[0].message.audio
    assert audio is not None and audio.transcript == ANSWER
    assert base64.b64decode(audio.data)[:4] == b"RIFF"
    text = await client.chat.completions.create(model="talkterm", messages=HISTORY)
    assert text.choices[0].message.content == ANSWER


async def test_sdk_raises_openai_errors(fake_llm: FakeLLM, start_server: ServerFactory) -> None:
    server = await start_server(token="right")
    with pytest.raises(openai.AuthenticationError):
        await sdk(server).chat.completions.create(model="talkterm", messages=HISTORY)
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER), fault="error_in_stream", cut_after=2))
    client = AsyncOpenAI(api_key="right", base_url=f"{server.http_url}/v1", max_retries=0)
    stream = await client.chat.completions.create(model="talkterm", messages=HISTORY, stream=True)
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass
