"""pipecat's OpenAIRealtimeLLMService, unmodified and with its defaults (model
"gpt-realtime-2.1"), against talkterm-server installed beside it.

pipecat takes every ``error`` event as fatal and stops receiving; its interrupt (with
server turn detection, its default) sends only a ``conversation.item.truncate``. What its
user notices: the answer arrives with the instructions applied, the interrupt silences it
(the upstream request is closed), and no error ends the session.
"""

from __future__ import annotations

import pytest

from tests.clients.harness import client_python, framework_server, run_driver
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text

pytestmark = pytest.mark.timeout(300)

STORY = "Once upon a time there was a long story, and it went on. " * 30


async def test_default_service_answers_and_an_interrupt_silences_it(fake_llm: FakeLLM) -> None:
    python = client_python("pipecat")
    fake_llm.enqueue(Reply(chunks=chunk_text(STORY, 3), delay=0.03))
    async with framework_server(python, fake_llm) as ready:
        report = await run_driver(python, "pipecat_realtime", fake_llm, ready["listening"])
    assert report["errors"] == []
    assert report["interrupted"] and report["audio_bytes"] > 0
    assert report["text"] and len(report["text"]) < len(STORY) // 2
    # The interrupt closed the answer's upstream request: nothing more of it is made.
    closed = fake_llm.disconnected_at[0] - report["interrupted_at"]
    assert 0 < closed < 2.0
    system = fake_llm.chat_requests[0].json["messages"][0]
    assert system == {"role": "system", "content": "Answer like a pirate."}
