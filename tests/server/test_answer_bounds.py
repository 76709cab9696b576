"""One answer holds a bounded amount whatever the upstream does: an endless fast upstream
is read at the pace of speech, and an answer past its cap (an upstream that ignores
max_tokens) ends "incomplete", reason max_output_tokens (HTTP: finish_reason "length")."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from server import protocol as p
from tests.fakes.endless_upstream import ThreadedFakeLLM, UpstreamMeter, endless
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.client import Client
from tests.helpers.memory import settled_rss_mb
from tests.helpers.server import ServerFactory, sessions
from tests.helpers.upstream_pace import upstream_closed, upstream_stops
from tests.helpers.waiting import wait_for

# Generous: the point is "bounded", not "exactly this much".
RSS_GROWTH_MB = 150.0


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    """The fake upstream on its own loop: a fast endless stream must not starve the server's."""
    async with ThreadedFakeLLM() as fake:
        yield fake


async def test_a_paused_spoken_answer_reads_the_upstream_no_further_than_its_speech(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server()
    client = await Client.open(server.ws_url)
    meter = UpstreamMeter(fake_llm)
    fake_llm.enqueue(Reply(chunks=endless()))
    await client.ask("Talk for ever")
    await client.read_until(p.RESPONSE_CREATED)
    await client.send({"type": p.RESPONSE_PAUSE})
    await upstream_stops(meter)
    # Held: 2 MiB of audio (about 43 s) and a minute of sentences waiting for synthesis.
    # Before the bound the answer took 2 MiB of text from the upstream at once, split
    # into 40,000 sentences nobody would hear for hours. (The fake's meter counts what
    # the sockets buffer too, megabytes: what the answer took is the figure to read.)
    (session,) = sessions(server)
    assert session.response is not None
    assert session.response.cap.said < 10_000, session.response.cap.said
    await client.send({"type": p.RESPONSE_CANCEL})
    assert (await client.collect()).done["status"] == "cancelled"
    await client.close()


async def test_an_endless_text_answer_ends_at_its_cap_over_the_websocket(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    cap = 1 << 20
    server = await start_server(answer_chars=cap, max_output_tokens="inf")
    rss_before = settled_rss_mb()
    client = await Client.open(server.ws_url)
    fake_llm.enqueue(Reply(chunks=endless()))
    got = await client.answer("Talk for ever", output_modalities=["text"], timeout=60)
    done = got.done
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert len(got.text()) == cap
    (item,) = done["output"]
    assert item["status"] == "incomplete" and item["content"][0]["text"] == got.text()
    assert got.of(p.TEXT_DONE)[0]["text"] == got.text()  # the text is whole up to the cut
    await upstream_closed(fake_llm)
    assert settled_rss_mb() - rss_before < RSS_GROWTH_MB
    # The session carries on: the next answer is an ordinary one.
    fake_llm.enqueue(Reply(chunks=["Short ", "one."]))
    again = await client.answer("And now?", output_modalities=["text"])
    assert again.done["status"] == "completed" and again.text() == "Short one."
    await client.close()


async def test_a_spoken_answer_past_its_token_cap_ends_with_the_reason(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server()
    client = await Client.open(server.ws_url)
    fake_llm.enqueue(Reply(chunks=endless()))
    # The upstream ignores max_tokens=20; the server cuts at 32 characters a token.
    got = await client.answer("Talk for ever", max_output_tokens=20, timeout=60)
    assert fake_llm.chat_requests[-1].json["max_tokens"] == 20
    done = got.done
    assert done["status"] == "incomplete", done
    assert done["status_details"]["reason"] == "max_output_tokens"
    assert len(got.text()) == 20 * 32
    assert got.of(p.TRANSCRIPT_DONE)[0]["transcript"] == got.text()
    assert len(got.audio) > p.PCM_RATE * p.PCM_SAMPLE_WIDTH  # spoken up to the cut
    await client.close()


async def test_an_endless_http_stream_ends_at_its_cap_with_length(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    cap = 1 << 20
    server = await start_server(answer_chars=cap, max_output_tokens="inf")
    rss_before = settled_rss_mb()
    fake_llm.enqueue(Reply(chunks=endless()))
    ask = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "talk"}]}
    text: list[str] = []
    finish = []
    async with (
        httpx.AsyncClient(timeout=60) as http,
        http.stream("POST", server.http_url + "/v1/chat/completions", json=ask) as answer,
    ):
        async for line in answer.aiter_lines():
            if not line.startswith("data: {"):
                continue
            (choice,) = json.loads(line.removeprefix("data: "))["choices"]
            text.append(choice["delta"].get("content") or "")
            finish.append(choice["finish_reason"])
    assert len("".join(text)) == cap
    assert finish[-1] == "length"
    await upstream_closed(fake_llm)
    assert settled_rss_mb() - rss_before < RSS_GROWTH_MB
    services = server.services
    assert services is not None
    await wait_for(None, lambda: services.http_answers == 0, what="slot freed")
