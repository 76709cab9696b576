"""Hostile clients against a real server process: does anyone else notice?

For each attack, the server (``python -m server``, espeak-ng speech) runs as its own
process; the fake LLM runs on a thread of this process with its own event loop; the
attacker (WebSocket or raw HTTP, bench/hostile_http.py) and a bystander are clients here.
During the attack window the bench polls /healthz every 100 ms (worst latency), samples
the server's RSS from /proc/PID/status (growth at the end, and the peak), and at the end
times a bystander's short text answer. ``--server-root`` runs the server
from another checkout (e.g. the code before the bounds) to get the "before" figures.

    .venv/bin/python bench/hostile.py [--window 15] [--server-root /tmp/base]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.hostile_http import HTTP_ATTACKS, Held  # noqa: E402
from server import protocol as p  # noqa: E402
from tests.fakes.endless_upstream import ThreadedFakeLLM, endless  # noqa: E402
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text  # noqa: E402
from tests.helpers.client import Client, small_window_socket  # noqa: E402
from tests.helpers.memory import rss_mb  # noqa: E402
from tests.helpers.server import http_get  # noqa: E402
from tests.helpers.server_process import clean_env, ready_line, spawn  # noqa: E402
from tests.helpers.texts import LONG  # noqa: E402

Attack = Callable[[str, FakeLLM, list[Any]], Awaitable[None]]


async def stops_reading(url: str, fake: FakeLLM, keep: list[Any]) -> None:
    """Asks for an endless answer and never reads again."""
    client = await Client.open(url, sock=small_window_socket(url), max_queue=1)
    fake.enqueue(Reply(chunks=endless()))
    await client.ask("Talk for ever", output_modalities=["text"])
    keep.append(client)


async def pauses_for_ever(url: str, fake: FakeLLM, keep: list[Any]) -> None:
    """Asks for an endless spoken answer and pauses it at once."""
    client = await Client.open(url)
    fake.enqueue(Reply(chunks=endless()))
    await client.ask("Talk for ever")
    await client.read_until(p.RESPONSE_CREATED)
    await client.send({"type": p.RESPONSE_PAUSE})
    keep.append(client)


async def floods_history(url: str, fake: FakeLLM, keep: list[Any]) -> None:
    """Adds 2,000 items of 100 KB (200 MB), then asks."""
    client = await Client.open(url)
    block = "x" * 100_000
    for _ in range(2000):
        await client.send(p.user_text_item(block))
        await client.expect(p.ITEM_DONE, timeout=60)
    fake.enqueue(Reply(chunks=["Noted."]))
    await client.ask("question", output_modalities=["text"])
    keep.append(client)


async def never_finishes(url: str, fake: FakeLLM, keep: list[Any]) -> None:
    """20 connections that each send fragments of one message and never the last."""

    async def fragments() -> Any:
        while True:
            yield "x" * 4096
            await asyncio.sleep(0.01)

    for _ in range(20):
        client = await Client.open(url)
        keep += [client, asyncio.create_task(client.ws.send(fragments()))]


async def abandons_speakers(url: str, fake: FakeLLM, keep: list[Any]) -> None:
    """30 sessions ask for long spoken answers and drop their connection once audio flows."""
    for _ in range(30):
        client = await Client.open(url)
        fake.enqueue(Reply(chunks=chunk_text(LONG * 6)))
        await client.ask("Talk a while")
        await client.read_until(p.AUDIO_DELTA)
        client.ws.transport.abort()


async def over_the_limit(url: str, fake: FakeLLM, keep: list[Any]) -> None:
    """Opens 300 connections (the bench server allows 200 sessions)."""
    for _ in range(300):
        try:
            keep.append(await Client.open(url, open_timeout=5))
        except Exception as exc:  # refused: what the bench reports
            keep.append(exc)


ATTACKS: dict[str, Attack] = {
    "stops reading": stops_reading,
    "pauses for ever": pauses_for_ever,
    "floods history": floods_history,
    "never finishes a message": never_finishes,
    "abandons 30 speaking sessions": abandons_speakers,
    "300 connections, limit 200": over_the_limit,
    **HTTP_ATTACKS,
}


async def bystander_s(url: str, fake: FakeLLM) -> float:
    """Seconds from a new session's question to its short text answer's response.done."""
    client = await Client.open(url, open_timeout=30)
    fake.enqueue(Reply(chunks=["I am ", "fine."]))
    started = time.perf_counter()
    await client.ask("Are you there?", output_modalities=["text"])
    await client.collect(timeout=120)
    took = time.perf_counter() - started
    await client.close()
    return took


async def closed_by_server(client: Client, within: float = 10.0) -> None:
    """Read what is left, so a client that stopped reading learns it was dropped."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(within):
            while True:
                await client.ws.recv()


def espeak_children(pid: int) -> int:
    """espeak-ng processes the server runs now."""
    count = 0
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text() if entry.isdigit() else ""
        except OSError:
            continue
        if stat and "(espeak" in stat and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            count += 1
    return count


async def run_attack(name: str, attack: Attack, args: argparse.Namespace) -> dict[str, Any]:
    """One attack against a fresh server; the figures of the table."""
    async with ThreadedFakeLLM() as fake:
        env = clean_env(
            TALKTERM_LLM_BASE_URL=fake.base_url,
            TALKTERM_LLM_MODEL="fake",
            TALKTERM_PING_TIMEOUT="5",
            TALKTERM_MAX_SESSIONS="200",
            # Endless attacks stay endless: no token cap to cut them at 32 KiB (answer_cap.py).
            TALKTERM_MAX_OUTPUT_TOKENS="inf",
            PYTHONPATH=str(args.server_root),
        )
        proc = await spawn(
            "--port", "0", env=env, cwd=str(args.server_root), stderr=asyncio.subprocess.DEVNULL
        )
        url = (await ready_line(proc))["listening"]
        rss0, keep, worst, peak_espeak = rss_mb(str(proc.pid)), [], 0.0, 0
        peak_rss = rss0
        task = asyncio.create_task(attack(url, fake, keep))
        deadline = time.monotonic() + args.window
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                await asyncio.wait_for(http_get(url, "/healthz"), 30)
                worst = max(worst, time.perf_counter() - started)
            except (OSError, TimeoutError):
                worst = max(worst, 30.0)
            peak_espeak = max(peak_espeak, espeak_children(proc.pid))
            peak_rss = max(peak_rss, rss_mb(str(proc.pid)))
            await asyncio.sleep(0.1)
        try:
            bystander = f"{await asyncio.wait_for(bystander_s(url, fake), 120):.2f} s"
        except Exception as exc:
            bystander = f"failed ({type(exc).__name__})"
        growth = rss_mb(str(proc.pid)) - rss0
        task.cancel()
        await asyncio.gather(*(closed_by_server(c) for c in keep if isinstance(c, Client)))
        dropped = [c for c in keep if isinstance(c, Client) and c.ws.close_code is not None]
        held = [c for c in keep if isinstance(c, Held)]
        gone = await asyncio.gather(*(h.dropped() for h in held))
        dropped += [h for h, out in zip(held, gone, strict=True) if out]
        refused = [c for c in keep if isinstance(c, Exception)]
        notes = "; ".join(c for c in keep if isinstance(c, str))
        proc.terminate()
        await proc.wait()
        for thing in keep:
            if isinstance(thing, Client):
                thing.ws.transport.abort()
            elif isinstance(thing, Held):
                thing.close()
            elif isinstance(thing, asyncio.Task):
                thing.cancel()
    return {
        "attack": name,
        "bystander": bystander,
        "healthz worst": f"{worst * 1000:.0f} ms",
        "RSS growth": f"{growth:+.0f} MB",
        "RSS peak": f"{peak_rss - rss0:+.0f} MB",
        "attacker dropped/refused": f"{len(dropped)} dropped, {len(refused)} refused"
        + (f"; {notes}" if notes else ""),
        "peak espeak-ng": peak_espeak,
    }


async def main() -> None:
    """Run every attack (or those named) and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=15.0, help="seconds of attack")
    parser.add_argument("--server-root", type=Path, default=ROOT)
    parser.add_argument("--only", nargs="*", default=None, help="attack names to run")
    args = parser.parse_args()
    rows = [
        await run_attack(name, attack, args)
        for name, attack in ATTACKS.items()
        if not args.only or any(word in name for word in args.only)
    ]
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
