"""A hostile upstream: absurd numbers, a body compressed unasked, one 10 MB chunk."""

from __future__ import annotations

import contextlib
import json

import pytest

from server.errors import UpstreamProtocolError
from server.llm import LLMEvent, TextDelta, Usage
from server.llm.chat_completions import ChatCompletionsLLM
from server.llm.reply import MAX_DELTA_CHARS
from server.llm.sse import LineSplitter
from tests.fakes import hostile_upstream as hostile
from tests.fakes.llm_upstream import FakeLLM


async def reply(llm: ChatCompletionsLLM) -> list[LLMEvent]:
    async with contextlib.aclosing(llm.stream([{"role": "user", "content": "hi"}])) as events:
        return [event async for event in events]


async def test_a_usage_count_of_thousands_of_digits_is_a_protocol_error(
    fake: FakeLLM, llm: ChatCompletionsLLM
) -> None:
    fake.enqueue(hostile.huge_usage())
    with pytest.raises(UpstreamProtocolError, match="digits"):
        await reply(llm)


async def test_a_body_compressed_unasked_is_refused_unread(
    fake: FakeLLM, llm: ChatCompletionsLLM
) -> None:
    fake.enqueue(hostile.gzip_body())
    with pytest.raises(UpstreamProtocolError, match="compressed") as refused:
        await reply(llm)
    assert "gzip" in refused.value.message


async def test_a_10_mb_chunk_arrives_in_frames_a_default_client_accepts(
    fake: FakeLLM, llm: ChatCompletionsLLM
) -> None:
    fake.enqueue(hostile.huge_chunk(10 << 20))
    events = await reply(llm)
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len("".join(texts)) == 10 << 20
    assert len(texts) > 1 and max(map(len, texts)) <= MAX_DELTA_CHARS
    # Even fully JSON-escaped, a delta fits in websockets' default 1 MiB frame limit.
    assert max(len(json.dumps({"delta": t})) for t in texts) < 1 << 20
    assert isinstance(events[-1], Usage)


def test_lines_split_only_at_cr_and_lf() -> None:
    """U+2028 is legal raw inside a JSON string; httpx's aiter_lines split there."""
    splitter = LineSplitter()
    assert splitter.feed('data: {"t": "a\u2028b"}\r') == ['data: {"t": "a\u2028b"}']
    assert splitter.feed("\nnext") == []
    assert splitter.close() == "next"
