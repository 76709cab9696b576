"""What the upstream says about itself: models, context size, and how to cap an answer."""

from __future__ import annotations

import pytest

from server.llm import Finished, TextDelta
from server.llm.chat_completions import ChatCompletionsLLM, cap_field
from tests.fakes.llm_upstream import FakeLLM, Reply


def test_openais_own_endpoint_caps_with_max_completion_tokens() -> None:
    assert cap_field("https://api.openai.com/v1") == "max_completion_tokens"
    assert cap_field("http://127.0.0.1:8080/v1") == "max_tokens"
    assert cap_field("http://127.0.0.1:11434/v1") == "max_tokens"


async def test_models_are_listed(fake: FakeLLM, llm: ChatCompletionsLLM) -> None:
    fake.models = ["a", "b"]
    assert await llm.models() == ["a", "b"]


@pytest.mark.parametrize("states", ["props", "show"])
async def test_the_stated_context_is_found(
    fake: FakeLLM, llm: ChatCompletionsLLM, states: str
) -> None:
    fake.window, fake.states = 2048, states
    assert await llm.context_window(llm.model) == 2048


async def test_a_context_stated_nowhere_is_none(fake: FakeLLM, llm: ChatCompletionsLLM) -> None:
    fake.window = 2048
    assert await llm.context_window(llm.model) is None


async def test_a_length_stop_is_reported(fake: FakeLLM, llm: ChatCompletionsLLM) -> None:
    fake.enqueue(Reply(["la", " la"], finish="length"))
    events = [e async for e in llm.stream([{"role": "user", "content": "hi"}])]
    assert events[:3] == [TextDelta("la"), TextDelta(" la"), Finished("length")]
