"""resolve_llm picks the right LLM; the demo responder streams and cancels cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.llm import LLMProvider, TextDelta
from server.llm.chat_completions import ChatCompletionsLLM
from server.llm.demo import DEMO_REPLY, DemoLLM
from server.llm.setup import DEFAULT_MODEL, OPENAI_BASE_URL, resolve_llm
from tests.fakes.llm_upstream import FakeLLM, Reply, refused_url

pytestmark = pytest.mark.timeout(30)

KEY = "sk-test-setupKEY-0123456789"
HELLO = [{"role": "user", "content": "hello"}]
DEMO_MUST_MENTION = (
    "not a language model",
    "--llm-base-url",
    "--llm-model",
    "TALKTERM_LLM_API_KEY",
    "OPENAI_API_KEY",
    "Ollama",
    "llama.cpp",
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(models=["local-a", "local-b"]) as upstream:
        yield upstream


@pytest.fixture
async def nowhere() -> str:
    return (await refused_url()).removesuffix("/v1")


@contextlib.asynccontextmanager
async def resolved(**overrides: Any) -> AsyncIterator[LLMProvider]:
    options: dict[str, Any] = {
        "base_url": None,
        "model": None,
        "api_key": None,
        "openai_api_key": None,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "ollama_url": None,
        "llamacpp_url": None,
    }
    llm = await resolve_llm(**(options | overrides))
    try:
        yield llm
    finally:
        await llm.aclose()


async def text_of(llm: LLMProvider) -> str:
    return "".join([e.text async for e in llm.stream(HELLO) if isinstance(e, TextDelta)])


async def test_configured_endpoint_and_model(fake: FakeLLM) -> None:
    async with resolved(
        base_url=fake.base_url, model="chosen", api_key=KEY, ollama_url=fake.root_url
    ) as llm:
        assert isinstance(llm, ChatCompletionsLLM)
        assert not llm.is_demo
        assert llm.label == f"chosen at {fake.base_url}"
        fake.enqueue(Reply(["Hi"]))
        assert await text_of(llm) == "Hi"
    # A configured endpoint is used as given: no probing.
    assert [r.path for r in fake.requests] == ["/v1/chat/completions"]
    assert fake.requests[0].json["model"] == "chosen"
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_configured_local_endpoint_without_model_takes_the_first_listed(
    fake: FakeLLM,
) -> None:
    async with resolved(base_url=fake.base_url) as llm:
        assert isinstance(llm, ChatCompletionsLLM)
        assert llm.model == "local-a"
        await text_of(llm)
    assert fake.chat_requests[0].json["model"] == "local-a"


async def test_configured_endpoint_without_a_model_list_falls_back(fake: FakeLLM) -> None:
    fake.missing_paths.add("/v1/models")
    async with resolved(base_url=fake.base_url) as llm:
        assert isinstance(llm, ChatCompletionsLLM)
        assert llm.model == DEFAULT_MODEL


async def test_openai_key_is_not_sent_to_another_endpoint(fake: FakeLLM) -> None:
    async with resolved(base_url=fake.base_url, model="m", openai_api_key=KEY) as llm:
        await text_of(llm)
    assert "authorization" not in fake.chat_requests[0].headers


@pytest.mark.parametrize("keys", [{"openai_api_key": KEY}, {"api_key": KEY}])
async def test_a_key_without_a_base_url_means_openai(fake: FakeLLM, keys: dict[str, str]) -> None:
    async with resolved(ollama_url=fake.root_url, llamacpp_url=fake.root_url, **keys) as llm:
        assert isinstance(llm, ChatCompletionsLLM)
        assert llm.base_url == OPENAI_BASE_URL
        assert llm.model == DEFAULT_MODEL
        assert llm.label == f"{DEFAULT_MODEL} via OpenAI ({OPENAI_BASE_URL})"
        assert KEY not in llm.label
    assert fake.requests == []


async def test_openai_with_a_chosen_model() -> None:
    async with resolved(openai_api_key=KEY, model="gpt-4.1") as llm:
        assert isinstance(llm, ChatCompletionsLLM)
        assert llm.model == "gpt-4.1"


async def test_probes_an_ollama_like_server(fake: FakeLLM, nowhere: str) -> None:
    async with resolved(ollama_url=fake.root_url, llamacpp_url=nowhere) as llm:
        assert isinstance(llm, ChatCompletionsLLM)
        assert llm.base_url == fake.base_url
        assert llm.model == "local-a"
        assert llm.label == f"local-a via Ollama ({fake.base_url})"
        fake.enqueue(Reply(["From Ollama"]))
        assert await text_of(llm) == "From Ollama"
    assert fake.requests[0].path == "/api/tags"


async def test_ollama_with_a_chosen_model(fake: FakeLLM) -> None:
    async with resolved(ollama_url=fake.root_url, model="mine") as llm:
        assert isinstance(llm, ChatCompletionsLLM)
        assert llm.model == "mine"


async def test_ollama_without_models_is_passed_over(nowhere: str) -> None:
    async with (
        FakeLLM(models=[]) as empty,
        resolved(ollama_url=empty.root_url, llamacpp_url=nowhere) as llm,
    ):
        assert llm.is_demo


async def test_probes_a_llamacpp_like_server(fake: FakeLLM, nowhere: str) -> None:
    fake.missing_paths.add("/api/tags")
    async with resolved(ollama_url=nowhere, llamacpp_url=fake.root_url) as llm:
        assert isinstance(llm, ChatCompletionsLLM)
        assert llm.model == "local-a"
        assert llm.label == f"local-a via llama.cpp server ({fake.base_url})"
        fake.enqueue(Reply(["From llama.cpp"]))
        assert await text_of(llm) == "From llama.cpp"


async def test_llamacpp_found_by_its_health_endpoint(fake: FakeLLM, nowhere: str) -> None:
    fake.missing_paths.update({"/api/tags", "/v1/models"})
    async with resolved(ollama_url=nowhere, llamacpp_url=fake.root_url) as llm:
        assert isinstance(llm, ChatCompletionsLLM)
        assert llm.model == "default"
    assert "/health" in [r.path for r in fake.requests]


async def test_ollama_wins_when_both_answer(fake: FakeLLM) -> None:
    async with (
        FakeLLM(models=["llama-model"]) as llamacpp,
        resolved(ollama_url=fake.root_url, llamacpp_url=llamacpp.root_url) as llm,
    ):
        assert llm.label.endswith(f"via Ollama ({fake.base_url})")
    assert [r.path for r in llamacpp.requests] == ["/v1/models"]


async def test_demo_when_nothing_answers(nowhere: str) -> None:
    async with resolved(ollama_url=nowhere, llamacpp_url=nowhere) as llm:
        assert isinstance(llm, DemoLLM)
        assert llm.is_demo
        assert llm.label == "demo responder (no LLM configured)"


async def test_a_silent_probe_target_times_out_quickly() -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        held.append(writer)

    silent = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{silent.sockets[0].getsockname()[1]}"
    started = time.perf_counter()
    try:
        async with resolved(ollama_url=url, llamacpp_url=url, probe_timeout=0.2) as llm:
            assert llm.is_demo
    finally:
        for writer in held:
            writer.close()
        silent.close()
        await silent.wait_closed()
    assert time.perf_counter() - started < 2
    assert held  # the probes did connect


async def test_demo_streams_its_fixed_reply() -> None:
    demo = DemoLLM(delay=0)
    events = [event async for event in demo.stream(HELLO)]
    assert all(isinstance(e, TextDelta) for e in events)
    assert len(events) > 20
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == DEMO_REPLY
    for needed in DEMO_MUST_MENTION:
        assert needed in text


async def test_demo_streams_word_by_word_with_pauses() -> None:
    demo = DemoLLM(delay=0.02)
    stream = demo.stream(HELLO)
    started = time.perf_counter()
    first = await anext(stream)
    second = await anext(stream)
    await stream.aclose()
    assert (first, second) == (TextDelta("This "), TextDelta("is "))
    assert time.perf_counter() - started >= 0.03


async def test_demo_cancels_cleanly() -> None:
    demo = DemoLLM(delay=0.05)
    got_one = asyncio.Event()
    received: list[str] = []

    async def consume() -> None:
        async for event in demo.stream(HELLO):
            assert isinstance(event, TextDelta)
            received.append(event.text)
            got_one.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await got_one.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()
    # Cancelled after its first words: it did not run on to the end of the reply first.
    assert len(received) < 5
