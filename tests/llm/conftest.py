"""The fake upstream and a ChatCompletionsLLM talking to it, for every LLM test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import pytest

from server.llm.chat_completions import ChatCompletionsLLM
from tests.fakes.llm_upstream import FakeLLM

MODEL: Final = "test-model"
"""The model the ``llm`` fixture asks for."""


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLM]:
    """A real HTTP server on loopback speaking OpenAI's SSE."""
    async with FakeLLM() as upstream:
        yield upstream


@pytest.fixture
async def llm(fake: FakeLLM) -> AsyncIterator[ChatCompletionsLLM]:
    """The client under test, pointed at ``fake``."""
    client = ChatCompletionsLLM(base_url=fake.base_url, model=MODEL, read_timeout=5.0)
    yield client
    await client.aclose()
