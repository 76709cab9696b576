"""Upstream failures: a clear error, response.done failed, partial text kept, session usable."""

from __future__ import annotations

import pytest

from server import protocol as p
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client, answer_once

PARTIAL = "One. Two. Three. Four. Five. Six. Seven. Eight."

FAULTS = [
    (
        "401",
        Reply(chunks=[], status=401, body='{"error": {"message": "Incorrect API key"}}'),
        "upstream_auth_failed",
        False,
    ),
    (
        "404 model",
        Reply(chunks=[], status=404, body='{"error": {"message": "model fake-model not found"}}'),
        "upstream_not_found",
        False,
    ),
    (
        "429",
        Reply(
            chunks=[],
            status=429,
            headers={"Retry-After": "7"},
            body='{"error": {"message": "slow down"}}',
        ),
        "upstream_rate_limited",
        False,
    ),
    ("500", Reply(chunks=[], status=500, body="boom"), "upstream_server_error", False),
    ("503", Reply(chunks=[], status=503, body="busy"), "upstream_server_error", False),
    (
        "cut midway",
        Reply(chunks=chunk_text(PARTIAL), fault="cut", cut_after=6),
        "upstream_protocol_error",
        True,
    ),
    (
        "stall",
        Reply(chunks=chunk_text(PARTIAL), fault="stall", cut_after=6),
        "upstream_timeout",
        True,
    ),
    (
        "malformed SSE",
        Reply(chunks=chunk_text(PARTIAL), fault="malformed", cut_after=6),
        "upstream_protocol_error",
        True,
    ),
]


@pytest.mark.parametrize(("name", "reply", "code", "partial"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_upstream_fault(
    fake_llm: FakeLLM, start_server, name: str, reply: Reply, code: str, partial: bool
) -> None:
    server = await start_server(read_timeout=0.5)
    client = await Client.open(server.ws_url)
    fake_llm.enqueue(reply)
    got = await client.answer("Count")
    errors = got.of(p.ERROR)
    assert [e["error"]["code"] for e in errors] == [code]
    assert got.done["status"] == "failed"
    assert got.done["status_details"]["error"]["code"] == code
    if name == "429":
        assert "7" in errors[0]["error"]["message"]
    if partial:
        assert got.text() and PARTIAL.startswith(got.text())
    # The next prompt works, and the partial answer is in its history.
    fake_llm.enqueue(Reply(chunks=["Recovered."]))
    assert (await client.answer("Again")).text() == "Recovered."
    history = fake_llm.requests[-1].json["messages"]
    if partial:
        assert history[-2] == {"role": "assistant", "content": got.text()}
    await client.close()


async def test_unreachable_upstream(start_server) -> None:
    from tests.fakes.llm_upstream import refused_url

    server = await start_server(llm_base_url=await refused_url())
    got = await answer_once(server.ws_url, "Hello?")
    assert got.of(p.ERROR)[0]["error"]["code"] == "upstream_unreachable"
    assert got.done["status"] == "failed"
