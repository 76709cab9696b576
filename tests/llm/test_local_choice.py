"""The local model is the last automatic choice: after every upstream, before the demo."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.llm import LLMProvider, TextDelta, Usage
from server.llm.beside import UpstreamAndLocal, with_local_model
from server.llm.chat_completions import ChatCompletionsLLM
from server.llm.demo import DemoLLM
from server.llm.local import LocalLLM
from server.llm.local_model import unavailable_reason
from server.llm.setup import resolve_llm
from tests.fakes.llm_upstream import FakeLLM, refused_url

pytestmark = pytest.mark.timeout(60)
needs_model = pytest.mark.skipif(
    unavailable_reason() is not None, reason=f"local model: {unavailable_reason()}"
)


@contextlib.asynccontextmanager
async def resolved(**overrides: Any) -> AsyncIterator[LLMProvider]:
    nowhere = (await refused_url()).removesuffix("/v1")
    options: dict[str, Any] = {
        "base_url": None,
        "model": None,
        "api_key": None,
        "openai_api_key": None,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "ollama_url": nowhere,
        "llamacpp_url": nowhere,
        "local": True,
    }
    llm = await resolve_llm(**(options | overrides))
    try:
        yield llm
    finally:
        await llm.aclose()


@needs_model
async def test_nothing_configured_or_found_means_the_local_model() -> None:
    async with resolved() as llm:
        assert isinstance(llm, LocalLLM) and not llm.is_demo
        assert llm.label.startswith("local SmolLM2-135M — small and often wrong")
        assert await llm.models() == ["SmolLM2-135M-Instruct"]
        window = await llm.context_window(llm.model)
        assert window is not None and 512 <= window <= 8192
        events = [e async for e in llm.stream([{"role": "user", "content": "Hi!"}])]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).strip()
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.input_tokens > 0 and usage.output_tokens > 0


@needs_model
async def test_the_output_cap_ends_the_answer_with_length() -> None:
    async with resolved() as llm:
        ask = [{"role": "user", "content": "Count from one to one hundred in words."}]
        events = [e async for e in llm.stream(ask, max_output_tokens=3)]
    texts = [e for e in events if isinstance(e, TextDelta)]
    assert 1 <= len(texts) <= 3
    assert any(getattr(e, "reason", None) == "length" for e in events)


async def test_a_found_server_wins_over_the_local_model() -> None:
    async with FakeLLM(models=["found"]) as ollama, resolved(ollama_url=ollama.root_url) as llm:
        assert isinstance(llm, ChatCompletionsLLM) and llm.model == "found"


async def test_local_off_means_the_demo_responder() -> None:
    async with resolved(local=False) as llm:
        assert isinstance(llm, DemoLLM)


async def test_the_demo_answers_where_the_local_model_cannot_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Uninstalling a package is not something a test can do here; its absence is faked.
    monkeypatch.setattr("server.llm.local.unavailable_reason", lambda: "it is not installed")
    async with resolved() as llm:
        assert isinstance(llm, DemoLLM)
    assert "The local model cannot run: it is not installed." in caplog.text


@needs_model
async def test_beside_an_upstream_the_local_model_is_offered_not_loaded() -> None:
    async with FakeLLM(models=["up-a"]) as up, resolved(base_url=up.base_url, model="up-a") as llm:
        both = with_local_model(llm, enabled=True)
        assert isinstance(both, UpstreamAndLocal) and both.label == llm.label
        assert await both.models() == ["up-a", "SmolLM2-135M-Instruct"]
        assert both._local is None  # loaded only when picked
        assert with_local_model(llm, enabled=False) is llm


async def test_nothing_is_added_beside_the_demo() -> None:
    async with resolved(local=False) as demo:
        assert with_local_model(demo, enabled=True) is demo
