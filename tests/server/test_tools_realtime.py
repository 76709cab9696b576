"""Tools pass through the Realtime API: declared by the client, called by the model,
answered by the client, and the conversation carries on.

``PlainClient`` validates every event against the openai package's server-event union.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from server import protocol as p
from server.app import Server
from tests.clients.openai_types import PlainClient
from tests.fakes.llm_upstream import FakeLLM, Reply, ToolCall, chunk_text

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
ARGS = json.dumps({"city": "Paris"})


@pytest.fixture
async def plain(server: Server) -> AsyncIterator[PlainClient]:
    """A plain OpenAI client on a server with espeak-ng speech."""
    client = await PlainClient.open(server.ws_url)
    yield client
    await client.close()


async def test_a_tool_call_streams_and_its_output_continues_the_answer(
    fake_llm: FakeLLM, plain: PlainClient
) -> None:
    update = {"tools": [WEATHER], "tool_choice": "auto", "instructions": "Use tools."}
    await plain.send({"type": p.SESSION_UPDATE, "session": update})
    session = (await plain.expect(p.SESSION_UPDATED))["session"]
    assert session["tools"] == [WEATHER] and session["tool_choice"] == "auto"

    fake_llm.enqueue(
        Reply(chunks=["Let me check."], tool_calls=[ToolCall("get_weather", ARGS, "call_w1")])
    )
    await plain.ask("Weather in Paris?")
    got = await plain.collect()
    sent = fake_llm.chat_requests[-1].json
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": WEATHER["parameters"],
            },
        }
    ]
    assert sent["tool_choice"] == "auto"
    assert got.done["status"] == "completed" and got.text() == "Let me check."
    assert len(got.audio) > p.PCM_RATE // 4  # the words around the call are spoken
    deltas = got.of("response.function_call_arguments.delta")
    assert "".join(d["delta"] for d in deltas) == ARGS and len(deltas) > 1
    done = got.of("response.function_call_arguments.done")[0]
    assert (done["name"], done["arguments"], done["call_id"]) == ("get_weather", ARGS, "call_w1")
    call_items = [e["item"] for e in got.of(p.OUTPUT_ITEM_DONE) if e["item"]["type"] != "message"]
    assert call_items[0]["type"] == "function_call" and call_items[0]["status"] == "completed"
    assert [o["type"] for o in got.done["output"]] == ["message", "function_call"]

    output = {"type": "function_call_output", "call_id": "call_w1", "output": '{"sky": "sunny"}'}
    await plain.send({"type": p.ITEM_CREATE, "item": output})
    added = await plain.expect(p.ITEM_ADDED)
    assert added["item"]["type"] == "function_call_output"
    assert added["previous_item_id"] == call_items[0]["id"]
    fake_llm.enqueue(Reply(chunks=chunk_text("It is sunny in Paris.")))
    await plain.send({"type": p.RESPONSE_CREATE})
    again = await plain.collect()
    assert again.text() == "It is sunny in Paris."
    messages = fake_llm.chat_requests[-1].json["messages"]
    assert messages[1:] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_w1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ARGS},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_w1", "content": '{"sky": "sunny"}'},
    ]


async def test_bad_tools_are_refused_naming_the_field(
    fake_llm: FakeLLM, plain: PlainClient
) -> None:
    update = {"tools": [{"type": "mcp", "server_label": "x"}], "instructions": "Kept."}
    await plain.send({"type": p.SESSION_UPDATE, "session": update})
    error = (await plain.expect(p.ERROR))["error"]
    assert error["param"] == "session.tools[0]"
    assert (await plain.expect(p.SESSION_UPDATED))["session"]["instructions"] == "Kept."


async def test_response_tools_override_and_no_tools_sends_none(
    fake_llm: FakeLLM, plain: PlainClient
) -> None:
    await plain.ask("No tools here")
    await plain.collect()
    assert "tools" not in fake_llm.chat_requests[-1].json
    response = {"tools": [WEATHER], "tool_choice": {"type": "function", "name": "get_weather"}}
    await plain.ask("Now with one", **response)
    await plain.collect()
    sent = fake_llm.chat_requests[-1].json
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["tools"][0]["function"]["name"] == "get_weather"


async def test_a_call_never_answered_is_left_out_upstream(
    fake_llm: FakeLLM, plain: PlainClient
) -> None:
    """Chat Completions refuses a tool call without its result: the next turn omits it."""
    await plain.send({"type": p.SESSION_UPDATE, "session": {"tools": [WEATHER]}})
    await plain.expect(p.SESSION_UPDATED)
    fake_llm.enqueue(Reply(tool_calls=[ToolCall("get_weather", ARGS, "call_x")]))
    await plain.ask("Weather?")
    assert (await plain.collect()).of("response.function_call_arguments.done")
    fake_llm.enqueue(Reply(chunks=["Never mind."]))
    await plain.ask("Never mind, hello.")
    await plain.collect()
    messages = fake_llm.chat_requests[-1].json["messages"]
    assert [m["content"] for m in messages[1:]] == ["Weather?", "Never mind, hello."]
    assert not any("tool_calls" in m or m["role"] == "tool" for m in messages)


async def test_bad_response_tools_leave_no_trace(fake_llm: FakeLLM, plain: PlainClient) -> None:
    await plain.send(
        {"type": p.RESPONSE_CREATE, "event_id": "e1", "response": {"tools": [{"type": "mcp"}]}}
    )
    error = (await plain.expect(p.ERROR))["error"]
    assert (error["param"], error["event_id"]) == ("response.tools[0]", "e1")
    await plain.send(p.user_text_item("Hello"))
    # The refused response added nothing: the user's item is the conversation's first.
    assert (await plain.expect(p.ITEM_DONE))["previous_item_id"] is None
    assert fake_llm.chat_requests == []
