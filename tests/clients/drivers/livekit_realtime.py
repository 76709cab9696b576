"""LiveKit Agents' OpenAI ``RealtimeModel`` (defaults: model "gpt-realtime"), pointed at
talkterm: run in the framework's own venv by tests/clients/test_livekit.py; prints one
JSON report.

Turn 1: ``generate_reply()`` after a user message (it waits for response.created to echo
its metadata, and times out after 10 s if it never does). Turn 2: a long answer,
interrupted at its first audio the way an ``AgentSession`` does (cancel, then truncate).
Then the session's mirror of the conversation is read back, in order.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp
from livekit.plugins.openai.realtime import RealtimeModel


async def answer(session: Any, text: str, *, interrupt: bool) -> dict[str, Any]:
    """Ask, read the reply's text and audio; interrupt it at the first audio if asked."""
    chat_ctx = session.chat_ctx.copy()
    chat_ctx.add_message(role="user", content=text)
    await session.update_chat_ctx(chat_ctx)
    started = time.monotonic()
    generation = await session.generate_reply()
    waited = time.monotonic() - started
    said, audio, heard_ms = "", 0, 0.0
    interrupted_at: float | None = None
    async for message in generation.message_stream:

        async def read_text(stream: Any = message.text_stream) -> str:
            return "".join([piece async for piece in stream])

        reading = asyncio.create_task(read_text())
        async for frame in message.audio_stream:
            audio += frame.samples_per_channel * 2
            heard_ms += frame.samples_per_channel * 1000 / frame.sample_rate
            if interrupt and interrupted_at is None:
                # The same clock as the fake upstream's (CLOCK_MONOTONIC): the test compares.
                interrupted_at = time.perf_counter()
                session.interrupt()
                played = int(heard_ms)  # as an AgentSession does: what was played so far
                session.truncate(
                    message_id=message.message_id, modalities=["audio", "text"], audio_end_ms=played
                )
        said += await reading
    return {
        "reply_wait_s": round(waited, 3),
        "text": said,
        "audio_bytes": audio,
        "interrupted_at": interrupted_at,
    }


async def main(url: str) -> None:
    """Two turns, then the conversation as the session mirrors it."""
    errors: list[str] = []
    async with aiohttp.ClientSession() as http:
        model = RealtimeModel(base_url=url, api_key="unused", http_session=http)
        session = model.session()
        session.on("error", lambda error: errors.append(repr(error.error)))
        await session.update_instructions("Answer like a pirate.")
        first = await answer(session, "What is the capital of France?", interrupt=False)
        second = await answer(session, "Tell me a very long story.", interrupt=True)
        await asyncio.sleep(1.0)  # the truncate's answer and item updates arrive
        history = [
            {"role": item.role, "text": item.text_content or ""}
            for item in session.chat_ctx.items
            if item.type == "message"
        ]
        await session.aclose()
        await model.aclose()
    print(json.dumps({"errors": errors, "turns": [first, second], "history": history}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
