"""Companion-server benchmarks against the fake LLM upstream on loopback.

Reproduce (from the repository root, after `bash scripts/bootstrap.sh test --co -q`):

    .venv/bin/python bench/server_bench.py            # all figures, markdown on stdout
    .venv/bin/python bench/server_bench.py --quick    # fewer repetitions

The server runs in its own process (`python -m server`), the fake upstream and the clients in
this one, so client and server do not share an event loop. Times come from
`time.perf_counter()`, which is CLOCK_MONOTONIC on Linux and so comparable across processes.

Figures:
- relay overhead per text delta: upstream chunk written → client received the delta
  (1 session, then 200 concurrent sessions; text-only so speech CPU does not blur it);
- first upstream token → first audio byte at the client, espeak-ng;
- response.cancel sent → upstream connection closed;
- server memory (RSS) per idle session.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import protocol as p  # noqa: E402
from tests.fakes.llm_upstream import FakeLLM, Reply  # noqa: E402
from tests.helpers.client import Client  # noqa: E402
from tests.helpers.server_process import clean_env, ready_line, spawn  # noqa: E402


async def start_server(
    fake: FakeLLM, *, tts: str, **env: str
) -> tuple[asyncio.subprocess.Process, str]:
    proc = await spawn(
        "--port",
        "0",
        "--tts",
        tts,
        "--llm-base-url",
        fake.base_url,
        "--llm-model",
        "bench",
        env=clean_env(TALKTERM_LOG_LEVEL="WARNING", **env),
        stderr=None,
        cwd=ROOT,
    )
    return proc, (await ready_line(proc))["listening"]


async def stop_server(proc: asyncio.subprocess.Process) -> None:
    proc.terminate()
    await proc.wait()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(name: str, values: list[float], target: str) -> str:
    return (
        f"| {name} | {len(values)} | {statistics.median(values):.2f} | {pct(values, 0.99):.2f} "
        f"| {max(values):.2f} | {target} |"
    )


async def relay(fake: FakeLLM, url: str, sessions: int, chunks: int, skip: int = 0) -> list[float]:
    """Per text delta: time the fake wrote it → time a client read it, in ms.

    ``skip`` leaves out each session's first deltas (the start-up burst of all sessions).
    """
    clients = await asyncio.gather(*(Client.open(url) for _ in range(sessions)))
    for c in clients:
        await c.send({"type": p.SESSION_UPDATE, "session": {"output_modalities": ["text"]}})
        await c.expect(p.SESSION_UPDATED)
    fake.enqueue(
        *(Reply(chunks=[f"s{s}c{i} " for i in range(chunks)], delay=0.02) for s in range(sessions))
    )
    received: dict[str, float] = {}

    async def run(c: Client) -> None:
        await c.ask("go")
        while True:
            event = await c.recv(60)
            assert isinstance(event, dict)
            if event["type"] == p.TEXT_DELTA:
                received[event["delta"]] = time.perf_counter()
            if event["type"] == p.RESPONSE_DONE:
                return

    fake.sent_log.clear()
    await asyncio.gather(*(run(c) for c in clients))
    await asyncio.gather(*(c.close() for c in clients))
    return [
        (received[piece] - sent) * 1000
        for piece, sent in fake.sent_log
        if piece in received and int(piece.split("c")[1]) >= skip
    ]


async def first_audio(fake: FakeLLM, url: str, runs: int) -> list[float]:
    """First content chunk written upstream → first audio byte at the client, in ms."""
    out = []
    client = await Client.open(url)
    for _ in range(runs):
        fake.enqueue(
            Reply(
                chunks=["Sure,", " here", " is", " the", " answer.", " It", " is", " short."],
                delay=0.01,
            )
        )
        fake.sent_log.clear()
        await client.ask("go")
        got = await client.read_until(p.AUDIO_DELTA)
        at = time.perf_counter()
        out.append((at - fake.sent_log[0][1]) * 1000)
        await client.collect(got)
    await client.close()
    return out


async def cancel_latency(fake: FakeLLM, url: str, runs: int) -> list[float]:
    """response.cancel sent → the upstream saw its connection closed, in ms."""
    out = []
    client = await Client.open(url)
    for n in range(runs):
        fake.enqueue(Reply(chunks=["word "] * 2000, delay=0.01))
        await client.ask("go")
        await client.read_until(p.AUDIO_DELTA)
        sent = time.perf_counter()
        await client.send({"type": p.RESPONSE_CANCEL})
        closed = await fake.wait_disconnect(timeout=5, count=n + 1)
        out.append((closed - sent) * 1000)
        await client.collect()
    await client.close()
    return out


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def idle_memory(url: str, pid: int, sessions: int) -> float:
    """KiB of server RSS per idle connected session."""
    await asyncio.sleep(0.5)
    before = rss_kib(pid)
    clients = await asyncio.gather(*(Client.open(url) for _ in range(sessions)))
    await asyncio.sleep(1.0)
    after = rss_kib(pid)
    await asyncio.gather(*(c.close() for c in clients))
    return (after - before) / sessions


async def main(quick: bool) -> None:
    reps = 5 if quick else 20
    lines = ["| figure | n | p50 ms | p99 ms | max ms | target |", "|---|---|---|---|---|---|"]
    async with FakeLLM() as fake:
        proc, url = await start_server(fake, tts="none")
        one = await relay(fake, url, 1, 200 if quick else 500)
        lines.append(row("relay per text delta, 1 session", one, "p50 ≤ 1, p99 ≤ 5"))
        count = 50 if quick else 200
        many = await relay(fake, url, count, 50)
        lines.append(row(f"relay per text delta, {count} sessions", many, "p99 ≤ 50"))
        steady = await relay(fake, url, count, 100, skip=25)
        lines.append(row(f"… {count} sessions, after each one's first 0.5 s", steady, "p99 ≤ 50"))
        per_session = await idle_memory(url, proc.pid, 100 if quick else 500)
        await stop_server(proc)

        proc, url = await start_server(fake, tts="espeak")
        audio = await first_audio(fake, url, reps)
        lines.append(row("first upstream token → first audio byte (espeak-ng)", audio, "≤ 150"))
        cancel = await cancel_latency(fake, url, reps)
        lines.append(row("response.cancel → upstream connection closed", cancel, "≤ 100"))
        await stop_server(proc)
    print("\n".join(lines))
    print(f"\nServer RSS per idle session: {per_session:.1f} KiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
