"""A conversation never outgrows its model: caps, fitting, retry, and plain-words notices.

Against the fake upstream, which counts a word as a token, states its window where
llama.cpp or Ollama do, and refuses longer prompts as real servers word it.
"""

from __future__ import annotations

from typing import Any

import pytest

from server import protocol as p
from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client, Received
from tests.helpers.server import ServerFactory

LONG_ANSWER = "word " * 120


async def text_client(server: Server, **session: Any) -> Client:
    """A client with a text-only session (no speech needed to test the context), taking
    notices as the app does."""
    client = await Client.open(server.ws_url, extensions=True)
    update = {"output_modalities": ["text"], "instructions": "Be brief."} | session
    await client.send({"type": p.SESSION_UPDATE, "session": update})
    await client.expect(p.SESSION_UPDATED)
    return client


async def turn(client: Client, text: str, **response: Any) -> Received:
    """Ask and read the whole answer."""
    await client.ask(text, **response)
    return await client.collect()


def notices(got: Received) -> list[dict[str, Any]]:
    """The notices of one answer; never an ``error`` (every Realtime client fails on one)."""
    assert not [e for e in got.of(p.ERROR) if e["error"]["code"] in p.NOTICE_CODES]
    return list(got.of(p.NOTICE))


def sent_messages(fake: FakeLLM, index: int = -1) -> list[dict[str, str]]:
    """The messages of one chat request the fake received."""
    return list(fake.chat_requests[index].json["messages"])


# -- the cap ------------------------------------------------------------------


async def test_the_servers_default_cap_is_forwarded(fake_llm: FakeLLM, server: Server) -> None:
    client = await text_client(server)
    assert client.session["session"]["max_output_tokens"] == 1024
    await turn(client, "hi")
    assert fake_llm.chat_requests[-1].json["max_tokens"] == 1024
    await client.close()


async def test_session_and_response_caps_are_forwarded(fake_llm: FakeLLM, server: Server) -> None:
    client = await text_client(server, max_output_tokens=50)
    await turn(client, "hi")
    assert fake_llm.chat_requests[-1].json["max_tokens"] == 50
    await turn(client, "again", max_output_tokens=7)
    assert fake_llm.chat_requests[-1].json["max_tokens"] == 7
    await client.send({"type": p.SESSION_UPDATE, "session": {"max_output_tokens": "inf"}})
    updated = await client.expect(p.SESSION_UPDATED)
    assert updated["session"]["max_output_tokens"] == "inf"
    await turn(client, "no cap")
    assert "max_tokens" not in fake_llm.chat_requests[-1].json
    await client.close()


async def test_the_cap_setting_may_be_unlimited(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(max_output_tokens="inf")
    client = await text_client(server)
    await turn(client, "hi")
    assert "max_tokens" not in fake_llm.chat_requests[-1].json
    await client.close()


@pytest.mark.parametrize("bad", [0, -5, 4096 * 32 + 1, "lots", True, 12.5, None])
async def test_a_bad_cap_is_refused_naming_the_field(client: Client, bad: object) -> None:
    await client.send({"type": p.SESSION_UPDATE, "session": {"max_output_tokens": bad}})
    error = (await client.expect(p.ERROR))["error"]
    assert error["param"] == "session.max_output_tokens"
    assert "max_output_tokens must be a whole number from 1 to 131072" in error["message"]


async def test_a_bad_response_cap_is_refused_naming_the_field(client: Client) -> None:
    await client.ask("hi", max_output_tokens=0)
    error = (await client.expect(p.ERROR))["error"]
    assert error["param"] == "response.max_output_tokens"


# -- fitting the history ------------------------------------------------------


@pytest.mark.parametrize("states", ["props", "show"])
async def test_a_stated_window_keeps_the_request_inside_it(
    fake_llm: FakeLLM, server: Server, states: str
) -> None:
    # llama.cpp states its context at /props, Ollama at /api/show; both refuse more.
    fake_llm.window, fake_llm.states = 600, states
    client = await text_client(server, max_output_tokens=100)
    for n in range(8):
        fake_llm.enqueue(Reply(chunk_text(LONG_ANSWER)))
        got = await turn(client, f"question {n}")
        assert got.done["status"] == "completed", got.of(p.ERROR)
    sent = sent_messages(fake_llm)
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[-1] == {"role": "user", "content": "question 7"}
    assert {"role": "user", "content": "question 0"} not in sent
    # Never a refusal: every request fitted on the first try.
    assert len(fake_llm.chat_requests) == 8
    await client.close()


async def test_the_user_is_told_once_that_early_turns_are_left_out(
    fake_llm: FakeLLM, server: Server
) -> None:
    fake_llm.window, fake_llm.states = 600, "props"
    client = await text_client(server, max_output_tokens=100)
    told = []
    for n in range(8):
        fake_llm.enqueue(Reply(chunk_text(LONG_ANSWER)))
        told += notices(await turn(client, f"question {n}"))
    assert [n["code"] for n in told] == ["context_trimmed"]
    assert "earliest messages are left out" in told[0]["message"]
    await client.close()


# -- refused anyway: drop turns and ask again -------------------------------


@pytest.mark.parametrize("style", ["openai", "llamacpp", "llama_cpp_python", "stream_cut"])
async def test_a_refusal_is_retried_once_without_early_turns(
    fake_llm: FakeLLM, server: Server, style: str
) -> None:
    client = await text_client(server)
    for n in range(4):
        fake_llm.enqueue(Reply(chunk_text(LONG_ANSWER)))
        await turn(client, f"question {n}")
    # The upstream turns out to be smaller than the history, and states it only by refusing.
    fake_llm.window, fake_llm.overflow = 300, style
    fake_llm.enqueue(Reply(chunk_text("Fine answer.")))
    got = await turn(client, "question 4")
    assert got.done["status"] == "completed"
    assert got.text() == "Fine answer."
    assert [n["code"] for n in notices(got)] == ["context_trimmed"]
    assert "asked again without the" in notices(got)[0]["message"]
    # The next turn fits at once: the window the refusal named (or showed) is remembered.
    before = len(fake_llm.chat_requests)
    fake_llm.enqueue(Reply(chunk_text("Next.")))
    assert (await turn(client, "question 5")).text() == "Next."
    assert len(fake_llm.chat_requests) == before + 1
    await client.close()


async def test_a_message_too_long_alone_fails_in_plain_words_and_the_chat_goes_on(
    fake_llm: FakeLLM, server: Server
) -> None:
    fake_llm.window = 200
    client = await text_client(server)
    got = await turn(client, "word " * 400)
    assert got.done["status"] == "failed"
    error = got.of(p.ERROR)[-1]["error"]
    assert error["code"] == "context_length_exceeded"
    assert "Your message is too long for the model" in error["message"]
    fake_llm.enqueue(Reply(chunk_text("Short answer.")))
    assert (await turn(client, "short question")).text() == "Short answer."
    await client.close()


# -- an answer that fills the context ---------------------------------------


async def test_an_empty_length_stop_is_retried_with_fewer_turns(
    fake_llm: FakeLLM, server: Server
) -> None:
    client = await text_client(server, max_output_tokens="inf")
    for n in range(4):
        fake_llm.enqueue(Reply(chunk_text(LONG_ANSWER)))
        await turn(client, f"question {n}")
    # No text and "length": the prompt left the model no room to answer.
    fake_llm.enqueue(Reply([], finish="length"), Reply(chunk_text("Room now.")))
    got = await turn(client, "question 4")
    assert got.text() == "Room now."
    assert len(sent_messages(fake_llm)) < len(sent_messages(fake_llm, -2))
    assert "context_trimmed" in [n["code"] for n in notices(got)]
    await client.close()


async def test_three_turns_after_a_context_filling_answer_all_work(
    fake_llm: FakeLLM, server: Server
) -> None:
    fake_llm.window = 400  # refuses more, and states it nowhere
    client = await text_client(server, max_output_tokens="inf")
    fake_llm.enqueue(Reply(chunk_text("babble " * 380), finish="length"))
    filled = await turn(client, "tell me everything")
    assert filled.done["status"] == "completed"
    assert [n["code"] for n in notices(filled)] == ["context_full"]
    assert "context is full" in notices(filled)[0]["message"]
    for n in range(3):
        fake_llm.enqueue(Reply(chunk_text(f"Answer {n}.")))
        got = await turn(client, f"question {n}")
        assert got.done["status"] == "completed", got.of(p.ERROR)
        assert got.text() == f"Answer {n}."
    await client.close()


async def test_an_answer_stopped_by_the_cap_is_not_a_full_context(
    fake_llm: FakeLLM, server: Server
) -> None:
    client = await text_client(server, max_output_tokens=5)
    fake_llm.enqueue(Reply(chunk_text("one two three four five"), finish="length"))
    got = await turn(client, "count")
    assert got.done["status"] == "completed"
    assert notices(got) == []
    await client.close()
