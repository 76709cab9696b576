"""openai-agents, unmodified, against talkterm-server installed beside it (websockets<17).

What its user notices: the RealtimeRunner with its defaults (voice "ash", model
"gpt-realtime-2.1") gets spoken answers with the agent's instructions applied, its
function tool is called and answered, an interrupt silences the answer, no error event
arrives, and the history is in order. An ``Agent`` with a function tool over Chat
Completions calls it and answers with its result.
"""

from __future__ import annotations

import json

import pytest

from tests.clients.harness import client_python, framework_server, run_driver
from tests.fakes.llm_upstream import FakeLLM, Reply, ToolCall, chunk_text

pytestmark = pytest.mark.timeout(300)

STORY = "Once upon a time there was a long story, and it went on. " * 30


async def test_realtime_runner_defaults_tools_and_interrupt(fake_llm: FakeLLM) -> None:
    python = client_python("agents")
    fake_llm.enqueue(
        Reply(chunks=["Let me look."], tool_calls=[ToolCall("get_weather", '{"city": "Paris"}')]),
        Reply(chunks=chunk_text("Arr, it be sunny in Paris.")),
        Reply(chunks=chunk_text(STORY, 3), delay=0.03),
    )
    async with framework_server(python, fake_llm) as ready:
        report = await run_driver(python, "agents_realtime", fake_llm, ready["listening"])
    assert report["errors"] == []
    assert report["calls"] == ["Paris"] and report["tools"] == ["Sunny in Paris."]
    first, story = report["turns"]
    assert first["audio_bytes"] > 24_000 * 2  # more than a second of speech
    # The interrupt closed the answer's upstream request: nothing more of it is made.
    assert 0 < fake_llm.disconnected_at[0] - story["interrupted_at"] < 2.0
    history = [(h["type"], h["role"], h["text"]) for h in report["history"]]
    assert history[:5] == [
        ("message", "user", "What is the weather in Paris?"),
        ("message", "assistant", "Let me look."),
        ("function_call", None, ""),
        ("message", "assistant", "Arr, it be sunny in Paris."),
        ("message", "user", "Tell me a very long story."),
    ]
    interrupted = report["history"][5]
    assert interrupted["status"] == "incomplete" and len(interrupted["text"]) < len(STORY) // 2
    requests = [r.json for r in fake_llm.chat_requests]
    assert all(
        r["messages"][0] == {"role": "system", "content": "Answer like a pirate."} for r in requests
    )
    assert requests[1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_fake1",
        "content": "Sunny in Paris.",
    }


async def test_agent_with_a_function_tool_over_chat_completions(fake_llm: FakeLLM) -> None:
    python = client_python("agents")
    fake_llm.enqueue(
        Reply(tool_calls=[ToolCall("get_weather", json.dumps({"city": "Oslo"}), "call_o1")]),
        Reply(chunks=chunk_text("It is snowing in Oslo.")),
    )
    async with framework_server(python, fake_llm) as ready:
        report = await run_driver(python, "agents_chat", fake_llm, ready["http"])
    assert report["calls"] == ["Oslo"]
    assert report["final_output"] == "It is snowing in Oslo."
    sent = fake_llm.chat_requests[-1].json["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_o1", "content": "Snowing in Oslo."}
    assert fake_llm.chat_requests[0].json["tools"][0]["function"]["name"] == "get_weather"
