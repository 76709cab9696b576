"""Two "machines" (network namespaces, addresses of their own) fronted by one HAProxy from
deploy/haproxy.cfg, as an operator would run it: sessions, resume, a lost machine."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from server import protocol as p
from server.scale import haproxy
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import Client
from tests.helpers.netns import Machine, can_make_machines, machine
from tests.helpers.server_process import clean_env, ready_line
from tests.helpers.texts import LONG
from tests.scale.test_workers import pytestmark as _needs_haproxy

pytestmark = [
    *_needs_haproxy,
    pytest.mark.skipif(
        not can_make_machines() and not os.environ.get("CI"), reason="needs root for ip netns"
    ),
]
TOKEN = "tok-machines"
PORT = 8765


async def worker(on: Machine, worker_id: str, llm: FakeLLM) -> asyncio.subprocess.Process:
    """``talkterm-server --worker-id ID`` on the machine's own address, as an operator runs it."""
    llm_url = llm.base_url.replace("127.0.0.1", on.host_side)  # it listens on every address
    proc = await asyncio.create_subprocess_exec(
        *on.command(
            sys.executable, "-m", "server", "--host", on.address, "--port", str(PORT),
            "--worker-id", worker_id, "--token", TOKEN, "--llm-base-url", llm_url,
            "--llm-model", "m",
        ),
        env=clean_env(TALKTERM_ESPEAK_RATE="400"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await ready_line(proc, timeout=60)
    return proc


@asynccontextmanager
async def front(machines: dict[str, Machine]) -> AsyncIterator[tuple[str, Path]]:
    """HAProxy from deploy/haproxy.cfg with one server line per machine: (ws URL, runtime)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="talkterm-front-") as tmp:
        runtime, config = Path(tmp) / "haproxy.sock", Path(tmp) / "haproxy.cfg"
        backends = [haproxy.Backend(name, m.address, PORT) for name, m in machines.items()]
        text = haproxy.render(haproxy.template(), f"127.0.0.1:{port}", backends, runtime)
        config.write_text(text)
        proc = await haproxy.start(config)
        try:
            yield f"ws://127.0.0.1:{port}/v1/realtime", runtime
        finally:
            proc.terminate()
            await proc.wait()


async def all_up(runtime: Path) -> None:
    """Wait until HAProxy is up and sees every server UP."""
    while True:
        try:
            if set((await haproxy.server_states(runtime)).values()) == {"UP"}:
                return
        except OSError:  # not listening on its socket yet
            pass
        await asyncio.sleep(0.05)


def pid_of(client: Client) -> int:
    """The worker process that holds the client's session."""
    return int(client.session["session"]["talkterm"]["worker"])


async def test_two_machines_behind_one_haproxy() -> None:
    async with AsyncExitStack() as stack:
        llm = await stack.enter_async_context(FakeLLM(host="0.0.0.0"))
        machines = {f"m{n}": await stack.enter_async_context(machine(n)) for n in (1, 2)}
        procs = {name: await worker(m, name, llm) for name, m in machines.items()}
        url, runtime = await stack.enter_async_context(front(machines))
        await asyncio.wait_for(all_up(runtime), 10)

        clients = [await Client.open(url, token=TOKEN) for _ in range(6)]
        where = Counter(c.session["session"]["id"].split("_")[1] for c in clients)
        assert set(where) == {"m1", "m2"} and min(where.values()) >= 2, where
        on = {name: next(c for c in clients if f"_{name}_" in c.session["session"]["id"])
              for name in machines}  # fmt: skip
        assert {name: pid_of(c) for name, c in on.items()} == {
            name: proc.pid for name, proc in procs.items()
        }

        # A cut mid-answer resumes on the machine that holds the session.
        llm.enqueue(Reply(chunks=chunk_text(LONG), delay=0.01))
        await on["m1"].ask("again")
        got = await on["m1"].read_until(p.AUDIO_DELTA)
        on["m1"].ws.transport.abort()
        last = max(e["seq"] for e in got.events)
        query = p.resume_query(on["m1"].session["session"]["id"], last)
        back = await Client.open(f"{url}?{query}", token=TOKEN, expect=p.SESSION_RESUMED)
        assert pid_of(back) == procs["m1"].pid
        await back.collect(got)
        assert got.text() == LONG and got.done["status"] == "completed"

        # m1 is lost: its client starts over on m2; m2's answer in flight never notices.
        llm.enqueue(Reply(chunks=chunk_text(LONG), delay=0.02))
        await on["m2"].ask("long")
        kept = await on["m2"].read_until(p.TRANSCRIPT_DELTA)
        machines["m1"].unplug()
        with pytest.raises(ConnectionClosed):
            await back.collect()
        query = p.resume_query(back.session["session"]["id"], last)
        fresh = await Client.open(f"{url}?{query}", token=TOKEN)
        assert pid_of(fresh) == procs["m2"].pid
        assert (await fresh.expect(p.ERROR))["error"]["code"] == "resume_unknown_session"
        await on["m2"].collect(kept)
        assert kept.text() == LONG and kept.done["status"] == "completed"
        for c in [fresh, *clients]:
            if c is not on["m1"]:
                await c.close()
        procs["m2"].terminate()
        await procs["m2"].wait()
