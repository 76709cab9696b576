"""LiveKit Agents' OpenAI ``RealtimeModel``, unmodified (defaults: model "gpt-realtime",
voice "marin"), against talkterm-server installed beside it.

``generate_reply()`` waits for response.created to echo the metadata it sent (10 s, then
the reply is lost); its mirror of the conversation keys on ``previous_item_id``; its
interrupt is a cancel then a truncate. What its user notices: every reply arrives at once
and is spoken, the interrupt silences the answer, no error, and the history is in order.
"""

from __future__ import annotations

import pytest

from tests.clients.harness import client_python, framework_server, run_driver
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text

pytestmark = pytest.mark.timeout(300)

STORY = "Once upon a time there was a long story, and it went on. " * 30


async def test_generate_reply_interrupt_and_history(fake_llm: FakeLLM) -> None:
    python = client_python("livekit")
    fake_llm.enqueue(
        Reply(chunks=chunk_text("Arr, Paris it be.")),
        Reply(chunks=chunk_text(STORY, 3), delay=0.03),
    )
    async with framework_server(python, fake_llm) as ready:
        report = await run_driver(python, "livekit_realtime", fake_llm, ready["http"])
    assert report["errors"] == []
    first, story = report["turns"]
    assert first["reply_wait_s"] < 5 and story["reply_wait_s"] < 5  # metadata echoed
    assert first["text"] == "Arr, Paris it be." and first["audio_bytes"] > 24_000
    assert len(story["text"]) < len(STORY) // 2
    # The interrupt closed the answer's upstream request: nothing more of it is made.
    assert 0 < fake_llm.disconnected_at[0] - story["interrupted_at"] < 2.0
    history = [(h["role"], h["text"]) for h in report["history"]]
    assert history[:3] == [
        ("user", "What is the capital of France?"),
        ("assistant", "Arr, Paris it be."),
        ("user", "Tell me a very long story."),
    ]
    assert history[3][0] == "assistant" and STORY.startswith(history[3][1])
    system = fake_llm.chat_requests[0].json["messages"][0]
    assert system == {"role": "system", "content": "Answer like a pirate."}
