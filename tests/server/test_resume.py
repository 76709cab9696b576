"""A dropped connection heals: resume with the session id and the last seq seen."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from server import protocol as p
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client
from tests.helpers.resume import last_seq, resume_url
from tests.helpers.server import sessions
from tests.helpers.texts import LONG
from tests.helpers.waiting import wait_for


async def test_every_event_is_numbered_in_order(fake_llm: FakeLLM, client: Client) -> None:
    assert client.session["seq"] == 1
    fake_llm.enqueue(Reply(chunks=chunk_text("One. Two. Three.")))
    got = await client.answer("count")
    seqs = [e["seq"] for e in got.events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


@pytest.mark.parametrize("binary", [False, True])
async def test_cut_mid_answer_resumes_with_nothing_lost_or_repeated(
    fake_llm: FakeLLM, start_server, binary: bool
) -> None:
    server = await start_server()
    client = await Client.open(server.ws_url)
    if binary:
        await client.send(
            {"type": p.SESSION_UPDATE, "session": {"talkterm": {"binary_audio": True}}}
        )
        await client.expect(p.SESSION_UPDATED)
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG)))
    reference = await client.answer("reference")

    fake_llm.enqueue(Reply(chunks=chunk_text(LONG), delay=0.01))
    await client.ask("again")
    got = await client.read_until(p.AUDIO_DELTA)
    client.ws.transport.abort()  # the Wi-Fi drops
    # The server keeps generating meanwhile: wait until the upstream has sent a good part more.
    sent = len(fake_llm.chunk_sent_at)
    await wait_for(None, lambda: len(fake_llm.chunk_sent_at) >= sent + 20, what="upstream moved on")

    again = await Client.open(resume_url(server, client, last_seq(got)), expect=p.SESSION_RESUMED)
    assert again.session["session"]["id"] == client.session["session"]["id"]
    await again.collect(got)
    seqs = [e["seq"] for e in got.events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # exactly once, in order
    assert got.text() == reference.text() == LONG
    assert bytes(got.audio) == bytes(reference.audio)
    assert got.done["status"] == "completed"
    # And the conversation simply goes on.
    fake_llm.enqueue(Reply(chunks=["Next."]))
    assert (await again.answer("next")).text() == "Next."
    await again.close()


async def test_resume_after_the_grace_period_is_refused_with_a_reason(
    fake_llm: FakeLLM, start_server
) -> None:
    server = await start_server(resume_grace=0.1)
    client = await Client.open(server.ws_url)
    client.ws.transport.abort()
    await wait_for(None, lambda: not sessions(server), timeout=5, what="the grace period ended")
    fresh = await Client.open(resume_url(server, client, 1))
    assert fresh.session["session"]["id"] != client.session["session"]["id"]
    error = await fresh.expect(p.ERROR)
    assert error["error"]["code"] == "resume_unknown_session"
    assert "grace" in error["error"]["message"] or "restarted" in error["error"]["message"]
    fake_llm.enqueue(Reply(chunks=["Works."]))
    assert (await fresh.answer("still?")).text() == "Works."
    await fresh.close()


async def test_unknown_session_is_refused(server) -> None:
    fresh = await Client.open(resume_url(server, "sess_doesnotexist", 5))
    assert (await fresh.expect(p.ERROR))["error"]["code"] == "resume_unknown_session"
    await fresh.close()


async def test_resume_too_far_back_is_refused(fake_llm: FakeLLM, start_server) -> None:
    server = await start_server(replay_buffer_bytes=1 << 16)
    client = await Client.open(server.ws_url)
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG)))
    await client.answer("long")  # ~10 s of audio: far more than 64 KiB
    client.ws.transport.abort()
    fresh = await Client.open(resume_url(server, client, 1))
    error = await fresh.expect(p.ERROR)
    assert error["error"]["code"] == "resume_too_late"
    await fresh.close()


async def test_bad_seq_is_refused(server, client: Client) -> None:
    url = f"{server.ws_url}?{p.RESUME_SESSION_PARAM}=x&{p.RESUME_SEQ_PARAM}=soon"
    fresh = await Client.open(url)
    assert (await fresh.expect(p.ERROR))["error"]["code"] == "resume_invalid_seq"
    await fresh.close()


async def test_resume_takes_over_a_half_dead_connection(fake_llm: FakeLLM, server) -> None:
    client = await Client.open(server.ws_url)
    again = await Client.open(resume_url(server, client, 1), expect=p.SESSION_RESUMED)
    with pytest.raises(ConnectionClosed) as closed:
        await client.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    fake_llm.enqueue(Reply(chunks=["Here."]))
    assert (await again.answer("hello")).text() == "Here."
    await again.close()


async def test_a_new_session_can_be_reseeded_with_the_conversation(
    fake_llm: FakeLLM, client: Client
) -> None:
    history = [("user", "input_text", "Capital of France?"), ("assistant", "output_text", "Paris.")]
    for role, kind, text in history:
        item = {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}
        await client.send({"type": p.ITEM_CREATE, "item": item})
        await client.expect(p.ITEM_DONE)
    fake_llm.enqueue(Reply(chunks=["Two million."]))
    await client.answer("How many live there?")
    assert fake_llm.requests[-1].json["messages"][1:] == [
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "How many live there?"},
    ]
