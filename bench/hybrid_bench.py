"""WebSocket, HTTP streaming and the hybrid at a distance: Enter → first text and first audio.

Reproduce (from the repository root, after `bash scripts/bootstrap.sh test --co -q`):

    .venv/bin/python bench/hybrid_bench.py             # n = 20 per cell, markdown on stdout
    .venv/bin/python bench/hybrid_bench.py --runs 3    # a quick look

The server runs as `python -m server` (its own process) against the fake LLM (tests/fakes)
and real espeak-ng, behind nginx (the WebSocket lines on; with TLS: a self-signed
certificate made by openssl, trusted through the app's ``ca_file``), behind a TCP proxy
that adds the distance (tests/helpers/tcp_proxy.py: one-way delay per direction on every
segment, the TCP handshake's round trip included), at round trips of 0, 40 and 150 ms.

Each conversation is the app's own link (tui/link/setup.make_link, ``--transport`` websocket,
http or hybrid), new. *At start*: the first question is typed before the link starts, so
Enter is its start and the question goes out as soon as the link lets it (``connected``;
for the hybrid at once); the second is asked 0.5 s after the first answer is done.
*Typed*: another new link, Enter 1 s after its start (a person typing: every link is up
by then). Times are from each Enter to the link's first text delta and first audio
bytes. Modes rotate within each round, every distance and TLS setting in every round, so
load drifts hit all alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from textual.message import Message

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server_bench import pct  # noqa: E402
from bench.transports_bench import ANSWER, server  # noqa: E402
from tests.fakes.llm_upstream import FakeLLM, Reply  # noqa: E402
from tests.helpers.nginx import nginx_proxy, nginx_tls_proxy  # noqa: E402
from tests.helpers.tcp_proxy import TcpProxy  # noqa: E402
from tui.config import Settings  # noqa: E402
from tui.link import Link, send_all  # noqa: E402
from tui.link.events import conversation_item, response_create, session_update  # noqa: E402
from tui.link.messages import ConnectionMessages as M  # noqa: E402
from tui.link.setup import make_link  # noqa: E402

MODES = ("websocket", "http", "hybrid")
RTTS = (0, 40, 150)
THINK_S = 0.5  # between the first answer's end and the second question
TYPING_S = 1.0  # from the link's start to Enter, when the question is typed after it


@dataclass
class Turn:
    """One answer as the link delivered it: ms from Enter."""

    text: float | None = None
    audio: float | None = None


@dataclass
class Listener:
    """The link's ``post``: stamps the messages a measurement needs."""

    t0: float = 0.0
    turn: Turn = field(default_factory=Turn)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, message: Message) -> None:
        ms = (time.perf_counter() - self.t0) * 1000
        if isinstance(message, M.Connected):
            self.connected.set()
        elif isinstance(message, M.TextArrived) and self.turn.text is None:
            self.turn.text = ms
        elif isinstance(message, M.AudioArrived) and self.turn.audio is None:
            self.turn.audio = ms
        elif isinstance(message, M.ResponseFinished):
            self.done.set()
        elif isinstance(message, M.Lost | M.AuthRefused | M.ServerError):
            print(f"  ! {type(message).__name__}: {message}", file=sys.stderr)


async def ask(link: Link, heard: Listener, question: str) -> Turn:
    """Enter now: the question as soon as the link takes it, then its answer, timed."""
    heard.t0, heard.turn = time.perf_counter(), Turn()
    heard.done.clear()
    if not link.connected:
        await heard.connected.wait()
    send_all(link, [session_update(True), conversation_item("user", question),
                    response_create(True)])
    await asyncio.wait_for(heard.done.wait(), 30)
    return heard.turn


async def conversation(fake: FakeLLM, url: str, ca: Path | None, mode: str) -> list[Turn]:
    """New links: (the first question at its start, the second after the first answer,
    the first question typed after the start)."""
    return [*await questions(fake, url, ca, mode, 0.0, 2),
            *await questions(fake, url, ca, mode, TYPING_S, 1)]


async def questions(
    fake: FakeLLM, url: str, ca: Path | None, mode: str, typing: float, count: int
) -> list[Turn]:
    """A new link; ``count`` questions, the first ``typing`` s after its start."""
    fake.enqueue(*[Reply(chunks=ANSWER, delay=0.01) for _ in range(count)])
    heard = Listener()
    link = make_link(Settings(server=url, transport=mode, ca_file=ca), heard)
    heard.t0 = time.perf_counter()
    running = asyncio.create_task(link.run())
    try:
        await asyncio.sleep(typing)
        turns = [await ask(link, heard, "go")]
        for _ in range(count - 1):
            await asyncio.sleep(THINK_S)
            turns.append(await ask(link, heard, "again"))
        return turns
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await link.close()


@asynccontextmanager
async def front(port: int, tls: bool) -> AsyncIterator[tuple[str, Path | None]]:
    """nginx in front of the server (WebSocket lines on), with or without TLS."""
    if tls:
        async with nginx_tls_proxy(port, "upgrade") as (url, ca):
            yield url, ca
    else:
        async with nginx_proxy(port, "upgrade") as url:
            yield url, None


Key = tuple[int, bool, str]  # round trip ms, TLS, mode


async def measure(runs: int) -> dict[Key, list[list[Turn]]]:
    """Every mode at every distance, with and without TLS, ``runs`` rounds interleaved."""
    got: dict[Key, list[list[Turn]]] = {}
    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(FakeLLM())
        _, port = await stack.enter_async_context(server(fake, "espeak"))
        routes: list[tuple[int, bool, str, Path | None]] = []
        for tls in (False, True):
            url, ca = await stack.enter_async_context(front(port, tls))
            nginx_port = int(url.rsplit(":", 1)[1])
            for rtt in RTTS:
                proxy = await stack.enter_async_context(TcpProxy(nginx_port, rtt / 2))
                scheme = "https" if tls else "http"
                routes.append((rtt, tls, f"{scheme}://127.0.0.1:{proxy.port}", ca))
        for n in range(runs):
            print(f"… round {n + 1}/{runs}, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
            for rtt, tls, url, ca in routes:
                for i in range(len(MODES)):
                    mode = MODES[(n + i) % len(MODES)]
                    turns = await conversation(fake, url, ca, mode)
                    got.setdefault((rtt, tls, mode), []).append(turns)
    return got


def cell(values: list[float]) -> str:
    """median (p90)."""
    return f"{statistics.median(values):.0f} ({pct(values, 0.9):.0f})"


def figure(runs: list[list[Turn]], turn: int, what: str) -> list[float]:
    """One figure of one turn over all runs (ms; a missing one counts as infinite)."""
    values = [getattr(r[turn], what) for r in runs]
    return [float("inf") if v is None else v for v in values]


def tables(got: dict[Key, list[list[Turn]]]) -> list[str]:
    """The results, then the round trips each mode pays before its first text."""
    lines = [
        "| round trip | TLS | transport | n | at start: 1st answer, first text ms "
        "| first audio ms | 2nd answer, first text ms | first audio ms "
        "| typed after 1 s: 1st answer, first text ms | first audio ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (rtt, tls, mode), runs in sorted(got.items()):
        cells = [cell(figure(runs, t, w)) for t in (0, 1, 2) for w in ("text", "audio")]
        lines.append(f"| {rtt} ms | {'yes' if tls else 'no'} | {mode} | {len(runs)} | "
                     + " | ".join(cells) + " |")
    lines += ["", "Round trips before the first text, (median at d − median at 0 ms) / d:", "",
              "| TLS | transport | at start: 1st answer, d = 40 | d = 150 | 2nd answer, d = 40 "
              "| d = 150 | typed: 1st answer, d = 40 | d = 150 |",
              "|---|---|---|---|---|---|---|---|"]
    for tls in (False, True):
        for mode in MODES:
            counts = []
            for turn in (0, 1, 2):
                near = statistics.median(figure(got[(0, tls, mode)], turn, "text"))
                for rtt in RTTS[1:]:
                    far = statistics.median(figure(got[(rtt, tls, mode)], turn, "text"))
                    counts.append(f"{(far - near) / rtt:.2f}")
            lines.append(f"| {'yes' if tls else 'no'} | {mode} | " + " | ".join(counts) + " |")
    return lines


async def main(args: argparse.Namespace) -> None:
    before = os.getloadavg()
    got = await measure(args.runs)
    after = os.getloadavg()
    print("\n".join(tables(got)))
    print(f"\nload average (1, 5, 15 min) before {before}, after {after}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="conversations per cell")
    asyncio.run(main(parser.parse_args()))
