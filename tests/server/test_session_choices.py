"""Settings from inside the app: the server lists models and voices, and takes a choice."""

from __future__ import annotations

from typing import Any

import pytest

from server import protocol as p
from server.app import Server
from tests.fakes.llm_upstream import FakeLLM
from tests.helpers.client import Client, connected
from tests.helpers.server import ServerFactory


async def update(client: Client, **session: Any) -> dict[str, Any]:
    """Send a session.update; return session.updated's session or the error."""
    await client.send({"type": p.SESSION_UPDATE, "session": session})
    while True:
        event = await client.recv()
        if isinstance(event, dict) and event["type"] in (p.SESSION_UPDATED, p.ERROR):
            return event


async def test_session_created_lists_the_upstreams_models_and_the_voices(
    fake_llm: FakeLLM, client: Client
) -> None:
    talkterm = client.session["session"]["talkterm"]
    assert talkterm["models"] == ["fake-model"]
    assert "en-us" in talkterm["voices"]
    assert talkterm["voices"] == sorted(talkterm["voices"])
    assert client.session["session"]["model"] == "fake-model"


async def test_the_demo_offers_one_demo_model(start_server: ServerFactory) -> None:
    server = await start_server(llm_base_url=None, llm_model=None, tts="none")
    client = await Client.open(server.ws_url)
    assert client.session["session"]["talkterm"]["models"] == ["demo"]
    assert client.session["session"]["talkterm"]["voices"] is None
    await client.close()


async def test_a_chosen_model_answers_the_next_questions(fake_llm: FakeLLM, client: Client) -> None:
    fake_llm.models.append("other-model")  # pulled after the server started
    updated = await update(client, model="other-model")
    assert updated["session"]["model"] == "other-model"
    assert updated["session"]["talkterm"]["models"] == ["fake-model", "other-model"]
    await client.answer("hi", output_modalities=["text"])
    assert fake_llm.chat_requests[-1].json["model"] == "other-model"
    back = await update(client, model="talkterm")  # the Realtime name: the server's default
    assert back["session"]["model"] == "fake-model"


async def test_an_unknown_model_is_refused_listing_the_valid_ones(client: Client) -> None:
    error = (await update(client, model="gpt-nope"))["error"]
    assert error["param"] == "session.model"
    assert "'gpt-nope' is not offered" in error["message"]
    assert "choose one of: fake-model" in error["message"]
    # The session keeps its model.
    assert (await update(client, instructions="x"))["session"]["model"] == "fake-model"


@pytest.mark.parametrize("bad", [0.1, 1.6, "fast", True, None])
async def test_a_bad_speed_is_refused(client: Client, bad: object) -> None:
    error = (await update(client, audio={"output": {"speed": bad}}))["error"]
    assert error["param"] == "session.audio.output.speed"
    assert "speed must be a number from 0.25 to 1.5" in error["message"]


async def spoken_ms(fake_llm: FakeLLM, server: Server, speed: float) -> float:
    """How long espeak-ng speaks the fake's default answer at ``speed``."""
    async with connected(server.ws_url) as client:
        updated = await update(client, audio={"output": {"speed": speed}})
        got = await client.answer("speak")
    assert updated["session"]["audio"]["output"]["speed"] == speed
    return p.pcm_ms(len(got.audio))


async def test_speed_changes_how_fast_espeak_speaks(fake_llm: FakeLLM, server: Server) -> None:
    slow = await spoken_ms(fake_llm, server, 0.5)
    fast = await spoken_ms(fake_llm, server, 1.5)
    # espeak-ng at 88 vs 262 words a minute: the same words take far longer.
    assert slow > 1.8 * fast
