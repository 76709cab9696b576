"""openai-agents' ``Agent`` with a function tool, over Chat Completions at talkterm: run in
the framework's own venv by tests/clients/test_openai_agents.py; prints one JSON report."""

from __future__ import annotations

import asyncio
import json
import sys

from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

CALLS: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    CALLS.append(city)
    return f"Snowing in {city}."


async def main(base_url: str) -> None:
    """Ask once; the agent calls its tool and answers with the result."""
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)
    agent = Agent(
        name="Assistant",
        instructions="Use your tools.",
        tools=[get_weather],
        model=OpenAIChatCompletionsModel(model="talkterm", openai_client=client),
    )
    result = await Runner.run(agent, "What is the weather in Oslo?")
    print(json.dumps({"calls": CALLS, "final_output": result.final_output}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
