"""A hostile upstream as a user of the server sees it: clear errors, frames of sane size."""

from __future__ import annotations

from server import protocol as p
from tests.fakes import hostile_upstream as hostile
from tests.fakes.llm_upstream import FakeLLM
from tests.helpers.client import Client
from tests.helpers.server import ServerFactory


async def test_a_10_mb_chunk_is_streamed_in_frames_a_default_client_accepts(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    # So long an answer is allowed here: by default the server cuts one at 32 characters a
    # token, 1 Mi characters at most (server/session/answer_cap.py).
    server = await start_server(answer_chars=16 << 20, max_output_tokens="inf")
    client = await Client.open(server.ws_url)
    fake_llm.enqueue(hostile.huge_chunk(10 << 20))
    got = await client.answer("everything", output_modalities=["text"], timeout=60)
    assert got.done["status"] == "completed"
    assert len(got.text()) == 10 << 20
    deltas = got.of(p.TEXT_DELTA)
    assert len(deltas) > 1
    # websockets' default max_size: one 10 MB delta frame closed such a client (1009).
    # (The closing .done events repeat the whole text, as the Realtime API has them.)
    assert max(len(p.encode(event)) for event in deltas) < 1 << 20
    await client.close()


async def test_a_usage_count_of_thousands_of_digits_is_an_upstream_protocol_error(
    fake_llm: FakeLLM, client: Client
) -> None:
    fake_llm.enqueue(hostile.huge_usage())
    got = await client.answer("hi")
    assert got.done["status"] == "failed"
    [error] = got.of(p.ERROR)
    assert error["error"]["code"] == "upstream_protocol_error"


async def test_a_gzip_body_is_refused_in_plain_words(fake_llm: FakeLLM, client: Client) -> None:
    fake_llm.enqueue(hostile.gzip_body())
    got = await client.answer("hi")
    [error] = got.of(p.ERROR)
    assert error["error"]["code"] == "upstream_protocol_error"
    assert "compressed" in error["error"]["message"]
