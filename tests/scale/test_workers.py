"""Two workers behind real HAProxy: balance, resume on the owner, drain, a killed worker.

Each test starts ``python -m server --workers 2`` (the parent, two worker processes and
HAProxy) against the fake LLM in this process, and ends it with SIGTERM (exit 0 checked).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from server import protocol as p
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client
from tests.helpers.cluster import TOKEN, Cluster, cluster, worker_of
from tests.helpers.player import FakePlayer
from tests.helpers.server_process import clean_env, ready_line, spawn
from tests.helpers.texts import LONG
from tests.helpers.tui_app import Recorder, ask
from tests.helpers.waiting import wait_for
from tests.http.sse import stream_chat
from tui.app import make_app
from tui.config import Settings
from tui.link.fallback import FallbackLink
from tui.link.websocket import Connection

# CI installs haproxy (scripts/bootstrap.sh): there a missing one fails, never skips.
pytestmark = [
    pytest.mark.skipif(
        shutil.which("haproxy") is None
        and not Path("/usr/sbin/haproxy").exists()
        and not os.environ.get("CI"),
        reason="needs haproxy",
    ),
    pytest.mark.timeout(180),
]


async def open_client(c: Cluster, url: str | None = None, **kw) -> Client:
    """A session through the front."""
    return await Client.open(url or c.url, token=TOKEN, **kw)


def pid_of(client: Client) -> int:
    """The worker process that holds the client's session."""
    return int(client.session["session"]["talkterm"]["worker"])


async def test_sessions_spread_and_a_cut_answer_resumes_on_its_worker(fake_llm: FakeLLM) -> None:
    async with cluster(fake_llm.base_url) as c:
        clients = [await open_client(c) for _ in range(6)]
        where = Counter(pid_of(client) for client in clients)
        assert len(where) == 2 and min(where.values()) >= 2, where  # each at least a third
        for client in clients:  # the id names the worker that issued it
            session_id = client.session["session"]["id"]
            assert c.worker_pid(worker_of(session_id)) == pid_of(client)

        client = clients[0]
        fake_llm.enqueue(Reply(chunks=chunk_text(LONG)))
        reference = await client.answer("reference")
        fake_llm.enqueue(Reply(chunks=chunk_text(LONG), delay=0.01))
        await client.ask("again")
        got = await client.read_until(p.AUDIO_DELTA)
        client.ws.transport.abort()  # the Wi-Fi drops
        sent = len(fake_llm.chunk_sent_at)
        await wait_for(None, lambda: len(fake_llm.chunk_sent_at) >= sent + 20, what="moved on")

        last = max(e["seq"] for e in got.events)
        query = p.resume_query(client.session["session"]["id"], last)
        again = await open_client(c, f"{c.url}?{query}", expect=p.SESSION_RESUMED)
        assert pid_of(again) == pid_of(client)
        await again.collect(got)
        seqs = [e["seq"] for e in got.events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # exactly once, in order
        assert got.text() == reference.text() == LONG
        assert bytes(got.audio) == bytes(reference.audio)
        for other in [again, *clients[1:]]:
            await other.close()


async def one_on_each(c: Cluster) -> dict[str, Client]:
    """Open sessions until each worker holds one; close the rest; by worker id."""
    held: dict[str, Client] = {}
    spare: list[Client] = []
    for _ in range(8):
        client = await open_client(c)
        name = worker_of(client.session["session"]["id"])
        if name in held:
            spare.append(client)
        else:
            held[name] = client
        if len(held) == 2:
            break
    for client in spare:
        await client.close()
    assert sorted(held) == ["w1", "w2"], held
    return held


async def test_sigterm_on_a_worker_drains_it(fake_llm: FakeLLM) -> None:
    async with cluster(fake_llm.base_url) as c:
        held = await one_on_each(c)
        draining = held["w1"]
        old = pid_of(draining)
        fake_llm.enqueue(Reply(chunks=chunk_text(LONG), delay=0.02))
        await draining.ask("a long one")
        got = await draining.read_until(p.TRANSCRIPT_DELTA)
        os.kill(old, signal.SIGTERM)
        # New sessions go to the other worker, from the first moment on.
        for _ in range(4):
            fresh = await open_client(c)
            assert pid_of(fresh) == pid_of(held["w2"])
            await fresh.close()
        # HAProxy takes it out of rotation (NOLB), keeping its connections.
        await wait_for(None, lambda: c.state("w1") == "NOLB", what="w1 draining")
        # The answer in flight finishes, whole.
        await draining.collect(got)
        assert got.done["status"] == "completed" and got.text() == LONG
        # Then the worker exits, and the parent starts it again: a rolling restart.
        await wait_for(
            None, lambda: c.worker_pid("w1") not in (None, old), timeout=20, what="w1 started again"
        )
        await wait_for(None, lambda: c.state("w1") == "UP", timeout=20, what="w1 up")
        await held["w2"].close()
        assert "draining: 1 answers in flight" in c.stderr()


async def test_sigkill_on_a_worker_costs_only_its_own_sessions(fake_llm: FakeLLM) -> None:
    async with cluster(fake_llm.base_url) as c:
        held = await one_on_each(c)
        lost, kept = held["w1"], held["w2"]
        old = pid_of(lost)
        fake_llm.enqueue(*[Reply(chunks=chunk_text(LONG), delay=0.02)] * 2)
        await lost.ask("one")
        await kept.ask("two")
        kept_got = await kept.read_until(p.TRANSCRIPT_DELTA)
        lost_got = await lost.read_until(p.TRANSCRIPT_DELTA)
        os.kill(old, signal.SIGKILL)
        with pytest.raises(ConnectionClosed):
            await lost.collect()
        # The parent tells HAProxy at once. (A handshake caught at that very moment is closed
        # unanswered by shutdown-sessions; a client reconnects after a backoff, as here.)
        await wait_for(None, lambda: c.state("w1").startswith("DOWN"), what="w1 down")
        # Its client asks to resume and is refused in plain words: a new session, elsewhere
        # or on the restarted worker, and the conversation goes on there.
        last = max(e["seq"] for e in lost_got.events)
        query = p.resume_query(lost.session["session"]["id"], last)
        fresh = await open_client(c, f"{c.url}?{query}")
        assert fresh.session["session"]["id"] != lost.session["session"]["id"]
        assert (await fresh.expect(p.ERROR))["error"]["code"] == "resume_unknown_session"
        fake_llm.enqueue(Reply(chunks=["Works."]))
        assert (await fresh.answer("still?")).text() == "Works."
        # The other worker's session never noticed.
        await kept.collect(kept_got)
        assert kept_got.done["status"] == "completed" and kept_got.text() == LONG
        # The parent starts the dead worker again; HAProxy marks it up.
        await wait_for(
            None, lambda: c.worker_pid("w1") not in (None, old), timeout=20, what="w1 started again"
        )
        await wait_for(None, lambda: c.state("w1") == "UP", timeout=20, what="w1 up")
        new = c.worker_pid("w1")
        landed = [await open_client(c) for _ in range(4)]
        assert new in {pid_of(client) for client in landed}
        for client in [fresh, kept, *landed]:
            await client.close()


ASK = {
    "model": "x",
    "messages": [{"role": "user", "content": "hi"}],
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "pcm16"},
}


async def test_http_streams_balance_and_stop_by_closing(fake_llm: FakeLLM) -> None:
    async with cluster(fake_llm.base_url) as c:
        root = c.base.removesuffix("/v1")
        before = await c.served()
        fake_llm.enqueue(*[Reply(chunks=chunk_text(LONG), delay=0.01)] * 4)
        answers = await asyncio.gather(*(stream_chat(root, ASK, TOKEN) for _ in range(4)))
        assert all(a.status == 200 and a.transcript == LONG and a.audio for a in answers)
        after = await c.served()
        assert all(after[w] - before[w] >= 1 for w in ("w1", "w2")), (before, after)

        # A client that hangs up stops the answer upstream, as without HAProxy.
        fake_llm.enqueue(Reply(chunks=["word "] * 2000, delay=0.01))
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx.AsyncClient(timeout=10, headers=headers) as http,
            http.stream(
                "POST", f"{root}/v1/chat/completions", json=ASK | {"stream": True}
            ) as response,
        ):
            async for line in response.aiter_lines():
                if '"data"' in line:
                    break
        await fake_llm.wait_disconnect(timeout=5)


async def test_the_app_works_through_the_front_and_starts_over_when_its_worker_dies(
    fake_llm: FakeLLM,
) -> None:
    async with cluster(fake_llm.base_url) as c:
        app = make_app(
            Settings(server=c.url, token=TOKEN, reconnect_max_delay=0.5),
            player=FakePlayer(speed=4.0),
        )
        recorder = Recorder()
        async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
            await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
            fake_llm.enqueue(Reply(chunks=["Through the front."]))
            await ask(pilot, app, "hello")
            await wait_for(
                pilot,
                lambda: (
                    app.state == "idle"
                    and app.history
                    and app.history[-1][1] == "Through the front."
                ),
                what="answer",
            )
            link = app.link
            assert isinstance(link, FallbackLink)  # WebSocket first, HTTP if it cannot
            session_id = link.ws.resume.session_id
            assert session_id is not None
            pid = c.worker_pid(worker_of(session_id))
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await wait_for(
                pilot,
                lambda: len(recorder.of(Connection.Connected)) == 2,
                timeout=20,
                what="reconnected",
            )
            await wait_for(
                pilot,
                lambda: recorder.of(Connection.SessionStarted)[-1].replaced,
                what="a new session",
            )
            fake_llm.enqueue(Reply(chunks=["Still here."]))
            await ask(pilot, app, "still there?")
            await wait_for(
                pilot,
                lambda: app.state == "idle" and app.history[-1][1] == "Still here.",
                what="second answer",
            )


async def test_sigterm_on_the_parent_drains_every_worker_and_exits_0(fake_llm: FakeLLM) -> None:
    async with cluster(fake_llm.base_url) as c:
        assert c.url.startswith("ws://127.0.0.1:") and c.ready["pid"] == c.proc.pid
        assert [w["id"] for w in c.ready["workers"]] == ["w1", "w2"]
        front = int(c.url.rsplit(":", 1)[1].split("/")[0])
        assert front not in {w["port"] for w in c.ready["workers"]}
        held = await one_on_each(c)
        fake_llm.enqueue(*[Reply(chunks=chunk_text(LONG), delay=0.02)] * 2)
        got = {}
        for name, client in held.items():
            await client.ask("long")
            got[name] = await client.read_until(p.TRANSCRIPT_DELTA)
        c.proc.send_signal(signal.SIGTERM)
        for name, client in held.items():
            await client.collect(got[name])
            assert got[name].done["status"] == "completed" and got[name].text() == LONG
        assert await asyncio.wait_for(c.proc.wait(), 30) == 0
        assert "Traceback" not in c.stderr()
        assert c.worker_pid("w1") is None and not c.runtime.exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_ctrl_c_to_the_whole_group_drains_too(fake_llm: FakeLLM, sig: signal.Signals) -> None:
    # What a terminal's Ctrl-C (SIGINT) or systemd's stop (SIGTERM to every process of the
    # group) does: only the parent may get it, or HAProxy stops at once and drops clients.
    async with cluster(fake_llm.base_url, own_group=True) as c:
        client = await open_client(c)
        fake_llm.enqueue(Reply(chunks=chunk_text(LONG), delay=0.02))
        await client.ask("long")
        got = await client.read_until(p.TRANSCRIPT_DELTA)
        os.killpg(c.proc.pid, sig)  # the parent leads its own group: this test is not in it
        await client.collect(got)
        assert got.done["status"] == "completed" and got.text() == LONG
        assert await asyncio.wait_for(c.proc.wait(), 30) == 0
        log = c.stderr()
        assert "Traceback" not in log and "starting it again" not in log, log[-3000:]
        assert not c.runtime.exists()


def command_line(pid: int) -> bytes:
    """What ``ps`` shows of ``pid``: its arguments."""
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


async def test_no_worker_nor_haproxy_outlives_a_killed_parent(fake_llm: FakeLLM) -> None:
    async with cluster(fake_llm.base_url) as c:
        children = [w["pid"] for w in c.ready["workers"]] + [c.ready["haproxy"]["pid"]]
        assert all(alive(pid) for pid in children)
        c.proc.kill()
        await c.proc.wait()
        await wait_for(None, lambda: not any(alive(pid) for pid in children), what="all gone")


async def test_a_made_up_token_reaches_the_workers_but_never_their_command_lines(
    fake_llm: FakeLLM,
) -> None:
    env = clean_env()
    env.pop("TALKTERM_TOKEN")
    proc = await spawn(
        "--workers", "2", "--port", "0", "--llm-base-url", fake_llm.base_url, env=env,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        ready = await ready_line(proc, timeout=60)
        token = ready["token"]
        for worker in ready["workers"]:
            assert token.encode() not in command_line(worker["pid"])
        with pytest.raises(InvalidStatus) as refused:
            await Client.open(ready["listening"])
        assert refused.value.response.status_code == 401  # checked by the worker, as ever
        client = await Client.open(ready["listening"], token=token)
        assert client.session["session"]["id"].startswith(("sess_w1_", "sess_w2_"))
        await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
