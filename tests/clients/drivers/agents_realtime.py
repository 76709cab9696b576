"""openai-agents' RealtimeRunner with its defaults, pointed at talkterm: run in the
framework's own venv by tests/clients/test_openai_agents.py; prints one JSON report.

Turn 1 asks for the weather: the agent's function tool is called and its result answered.
Turn 2 asks for a long story and interrupts it at the first audio.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner

CALLS: list[str] = []
DEBUG = bool(os.environ.get("TALKTERM_DRIVER_DEBUG"))


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    CALLS.append(city)
    return f"Sunny in {city}."


async def turn(session: Any, text: str, report: dict[str, Any], interrupt: bool) -> None:
    """Send one message and read events until its answer is over.

    Turn 1 is two answers (the one that calls the tool, then the one after it); an
    interrupted turn ends once nothing has come for 2 s after the interrupt.
    """
    await session.send_message(text)
    audio, ends = 0, 0
    interrupted = False
    interrupted_at: float | None = None
    events = aiter(session)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            wait = 2.0 if interrupted else deadline - time.monotonic()
            event = await asyncio.wait_for(anext(events), wait)
        except TimeoutError:
            break
        kind = event.type
        if DEBUG:
            raw = event.data.type if kind == "raw_model_event" else ""
            print(kind, raw, file=sys.stderr)
        if kind == "error":
            report["errors"].append(str(event.error))
        elif kind == "tool_end":
            report["tools"].append(str(event.output))
        elif kind == "audio":
            audio += len(event.audio.data)
            if interrupt and not interrupted:
                interrupted = True
                # The same clock as the fake upstream's (CLOCK_MONOTONIC): the test compares.
                interrupted_at = time.perf_counter()
                await session.interrupt()
        elif kind == "history_updated":
            report["history"] = [_item(item) for item in event.history]
        elif kind == "agent_end":
            ends += 1
            if not interrupt and ends == 2:
                break
    report["turns"].append({"audio_bytes": audio, "interrupted_at": interrupted_at})


def _item(item: Any) -> dict[str, Any]:
    """What the app shows of one history item."""
    data = item.model_dump()
    text = ""
    for part in data.get("content") or []:
        text += part.get("text") or part.get("transcript") or ""
    return {
        "type": data.get("type"),
        "role": data.get("role"),
        "text": text,
        "status": data.get("status"),
    }


async def main(url: str) -> None:
    """Run both turns and print the report."""
    agent = RealtimeAgent(
        name="Assistant", instructions="Answer like a pirate.", tools=[get_weather]
    )
    runner = RealtimeRunner(agent)
    report: dict[str, Any] = {"errors": [], "tools": [], "history": [], "turns": []}
    session = await runner.run(model_config={"url": url, "api_key": "unused"})
    async with session:
        await turn(session, "What is the weather in Paris?", report, interrupt=False)
        await turn(session, "Tell me a very long story.", report, interrupt=True)
    report["calls"] = CALLS
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
