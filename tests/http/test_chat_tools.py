"""Tools and sampling options pass through Chat Completions, read by the official SDK.

The fake upstream streams OpenAI-shaped tool calls; the SDK's own stream helper and types
put them together, so a wrong shape fails here as it would for any OpenAI client.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply, ToolCall, chunk_text

TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
ARGS = json.dumps({"city": "Paris"})
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture
async def sdk(server: Server) -> AsyncIterator[AsyncOpenAI]:
    """The official client, pointed at our HTTP side; closed in the test's own event loop
    (left to the garbage collector, its close logs errors into a later test)."""
    async with AsyncOpenAI(
        api_key="unused", base_url=f"{server.http_url}/v1", max_retries=0
    ) as client:
        yield client


async def test_streamed_tool_call_reaches_the_sdk(
    fake_llm: FakeLLM, server: Server, sdk: AsyncOpenAI
) -> None:
    fake_llm.enqueue(Reply(chunks=["Checking."], tool_calls=[ToolCall("get_weather", ARGS)]))
    options: Any = {
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 7,
        "response_format": {"type": "text"},
    }
    async with sdk.chat.completions.stream(
        model="talkterm", messages=ASK, tools=TOOLS, **options
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking."
    calls = choice.message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [("get_weather", ARGS)]
    sent = fake_llm.chat_requests[-1].json
    assert sent["tools"] == TOOLS
    assert {k: sent[k] for k in options} == options


async def test_whole_answer_with_a_tool_call(
    fake_llm: FakeLLM, server: Server, sdk: AsyncOpenAI
) -> None:
    fake_llm.enqueue(Reply(tool_calls=[ToolCall("get_weather", ARGS, "call_9")]))
    answer = await sdk.chat.completions.create(model="talkterm", messages=ASK, tools=TOOLS)
    message = answer.choices[0].message
    assert answer.choices[0].finish_reason == "tool_calls" and message.content is None
    assert message.tool_calls is not None and message.tool_calls[0].id == "call_9"


async def test_history_with_tool_calls_and_results_is_forwarded(
    fake_llm: FakeLLM, server: Server, sdk: AsyncOpenAI
) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ARGS},
    }
    history: Any = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'},
    ]
    fake_llm.enqueue(Reply(chunks=chunk_text("It is sunny.")))
    answer = await sdk.chat.completions.create(model="talkterm", messages=history, tools=TOOLS)
    assert answer.choices[0].message.content == "It is sunny."
    assert fake_llm.chat_requests[-1].json["messages"][-2:] == history[-2:]


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", 5), ("n", 2), ("tools", [{"type": "function"}]), ("seed", "x")],
)
async def test_an_option_the_upstream_cannot_take_is_refused_by_name(
    fake_llm: FakeLLM, server: Server, field: str, value: Any, sdk: AsyncOpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.chat.completions.create(model="talkterm", messages=ASK, extra_body={field: value})
    assert refused.value.body["param"].startswith(field)  # type: ignore[index]
    assert fake_llm.chat_requests == []


async def test_tool_message_needs_its_call_id(
    fake_llm: FakeLLM, server: Server, sdk: AsyncOpenAI
) -> None:
    history: Any = [*ASK, {"role": "tool", "content": "sunny"}]
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.chat.completions.create(model="talkterm", messages=history)
    assert refused.value.body["param"] == "messages[1].tool_call_id"  # type: ignore[index]
