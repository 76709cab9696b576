"""The ``llm`` CLI, configured as its docs say for an OpenAI-compatible server, against
talkterm-server's Chat Completions: a system prompt, ``-c`` to continue, and a Python
function it offers the model as a tool (``--functions``)."""

from __future__ import annotations

import json

import pytest

from tests.clients.harness import client_python, framework_server, run_driver
from tests.fakes.llm_upstream import FakeLLM, Reply, ToolCall, chunk_text

pytestmark = pytest.mark.timeout(300)


async def test_prompt_continue_and_a_tool(fake_llm: FakeLLM) -> None:
    python = client_python("llm")
    fake_llm.enqueue(
        Reply(chunks=chunk_text("Arr, Paris it be.")),
        Reply(chunks=chunk_text("Madrid, matey.")),
        Reply(tool_calls=[ToolCall("get_weather", json.dumps({"city": "Lima"}), "call_l1")]),
        Reply(chunks=chunk_text("It is rainy in Lima.")),
    )
    async with framework_server(python, fake_llm) as ready:
        report = await run_driver(python, "llm_cli", fake_llm, ready["http"])
    runs = report["runs"]
    assert [run["code"] for run in runs] == [0, 0, 0], runs
    assert [run["out"].strip() for run in runs] == [
        "Arr, Paris it be.",
        "Madrid, matey.",
        "It is rainy in Lima.",
    ]
    first, again, _, after_tool = (r.json["messages"] for r in fake_llm.chat_requests)
    assert first[0] == {"role": "system", "content": "Answer like a pirate."}
    assert again[1:] == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Arr, Paris it be."},
        {"role": "user", "content": "And of Spain?"},
    ]
    assert after_tool[-1] == {
        "role": "tool",
        "tool_call_id": "call_l1",
        "content": "Rainy in Lima.",
    }
