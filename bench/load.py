"""Load: 1,000 concurrent sessions, each streaming a scripted answer with audio.

Reproduce (from the repository root):

    .venv/bin/python bench/load.py                    # 1,000 sessions, markdown on stdout
    .venv/bin/python bench/load.py --sessions 200     # a smaller run
    .venv/bin/python bench/load.py --unlimited-pool 200   # what-if: httpx pool limit lifted
    .venv/bin/python bench/load.py --unlimited-pool 200 --no-deflate   # ... and no compression
    .venv/bin/python bench/load.py --workers 2        # 2 workers behind HAProxy (docs/scaling.md)

Three processes: the server (``python -m server --tts openai`` against the fake speech server),
the fakes (bench/_harness.py: fake LLM + fake speech with pre-rendered PCM), and this one (the
WebSocket clients, binary audio frames as the terminal app asks for them). Sessions connect in
batches, then ask in batches; text-delta latency (fake wrote the chunk → client received the
delta, matched per session and chunk ordinal) is reported for the deltas written while *every*
session was streaming: after the last session got its first delta, before the first finished.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import (
    ANSWERS,
    PCM_BYTES_PER_S,
    Fakes,
    Sample,
    ServerProc,
    answer_text,
    chunk_text,
    cpu_percent,
    machine_sample,
    pct,
    prompt,
    raise_fd_limit,
    sample,
    start_server,
)
from server import protocol as p
from server.speech.sentences import SentenceSplitter
from server.speech.speakable import speakable
from tests.helpers.client import Client


class LoopLag:
    """How late this event loop wakes a 10 ms timer: client-side delay in every figure."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.samples: list[tuple[float, float]] = []

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.period)
            self.samples.append((start, (time.perf_counter() - start - self.period) * 1000))

    def between(self, start: float, end: float) -> list[float]:
        """Lags in ms of the ticks that started in [start, end]."""
        return [lag for at, lag in self.samples if start <= at <= end]


def first_sentence_chunk(text: str) -> int:
    """Ordinal of the chunk after which the server can start speaking ``text``.

    The splitter confirms a boundary only when the next non-space character arrives, so this is
    the chunk that completes the first speakable segment's confirmation.
    """
    splitter = SentenceSplitter()
    pieces = chunk_text(text)
    for ordinal, piece in enumerate(pieces):
        if any(speakable(s.text) for s in splitter.feed(piece)):
            return ordinal
    return len(pieces) - 1


@dataclass
class Turn:
    """What one session saw of one response."""

    tag: str
    expected: str
    created: float = 0.0
    deltas: list[float] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    first_audio: float | None = None
    audio_bytes: int = 0
    done: float | None = None
    status: str = "missing"
    errors: list[str] = field(default_factory=list)
    server_ttfa_ms: float | None = None


async def ask(client: Client, turn: Turn, first: int, count: int, timeout: float) -> Turn:
    """Ask once and read the response to its response.done, recording times."""
    await client.send(p.user_text_item(prompt(turn.tag, first, count)))
    await client.expect(p.ITEM_DONE, timeout)
    turn.created = time.perf_counter()
    await client.send({"type": p.RESPONSE_CREATE})
    while True:
        frame = await asyncio.wait_for(client.ws.recv(), timeout)
        now = time.perf_counter()
        if isinstance(frame, bytes):
            if turn.first_audio is None:
                turn.first_audio = now
            turn.audio_bytes += len(frame) - 8 - int.from_bytes(frame[4:8], "big")
            continue
        event = json.loads(frame)
        kind = event["type"]
        if kind == p.TRANSCRIPT_DELTA:
            turn.deltas.append(now)
            turn.text.append(event["delta"])
        elif kind == p.ERROR:
            error = event["error"]
            turn.errors.append(f"{error['code']}: {error['message'][:100]}")
        elif kind == p.RESPONSE_DONE:
            turn.done, turn.status = now, event["response"]["status"]
            turn.server_ttfa_ms = event["response"]["timings"]["time_to_first_audio_ms"]
            return turn


async def open_session(url: str, timeout: float, deflate: bool = True) -> Client:
    """Connect, switch to binary audio, and wait for the ack.

    ``deflate=False`` offers no permessage-deflate, so the server sends frames uncompressed:
    what the server would do with ``compression=None`` (the terminal app's client offers it).
    """
    options = {} if deflate else {"compression": None}
    client = await Client.open(url, open_timeout=timeout, **options)
    await client.send({"type": p.SESSION_UPDATE, "session": {"talkterm": {"binary_audio": True}}})
    await client.expect(p.SESSION_UPDATED, timeout)
    return client


@dataclass
class Run:
    """Everything measured in one load run."""

    turns: list[Turn]
    failures: list[str]
    sent: dict[str, list[float]]
    samples: dict[str, list[Sample]]
    lag: LoopLag
    marks: dict[str, float]
    fakes_counters: dict[str, int]
    log_problems: list[str]


async def watch(pids: dict[str, int], into: dict[str, list[Sample]], every: float) -> None:
    """Sample each process every ``every`` seconds until cancelled."""
    while True:
        for name, pid in pids.items():
            into[name].append(sample(pid))
        into["machine"].append(machine_sample())
        await asyncio.sleep(every)


async def connect_all(url: str, args: argparse.Namespace, failures: list[str]) -> list[Client]:
    """Open the sessions in batches; record each failure."""
    clients: list[Client] = []
    for start in range(0, args.sessions, args.batch):
        batch = range(start, min(start + args.batch, args.sessions))
        opened = await asyncio.gather(
            *(open_session(url, args.timeout, not args.no_deflate) for _ in batch),
            return_exceptions=True,
        )
        for result in opened:
            if isinstance(result, BaseException):
                failures.append(f"connect: {type(result).__name__}: {result}")
            else:
                clients.append(result)
        await asyncio.sleep(args.pause)
    return clients


async def stream_all(
    clients: list[Client], args: argparse.Namespace, failures: list[str]
) -> list[Turn]:
    """Every session asks once; the asks start in batches ``args.pause`` apart."""

    async def one(index: int, client: Client) -> Turn:
        first = index % len(ANSWERS)
        turn = Turn(f"s{index:05d}", answer_text(first, args.answers))
        await asyncio.sleep((index // args.batch) * args.pause)
        try:
            return await ask(client, turn, first, args.answers, args.timeout)
        except Exception as exc:  # a failed session is a figure, not a crash
            failures.append(f"{turn.tag}: {type(exc).__name__}: {exc}")
            return turn

    return await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)))


async def run(args: argparse.Namespace) -> Run:
    """Start the processes, run the sessions, collect the logs."""
    raise_fd_limit()
    fakes = await Fakes.start(delay=1 / args.rate, counts=[args.answers], tts_chunk=args.tts_chunk)
    log = Path(tempfile.mkdtemp(prefix="talkterm-load-")) / "server.log"
    server: ServerProc | None = None
    try:
        server = await start_server(
            fakes.llm_url, fakes.speech_url, log, unlimited_pool=args.unlimited_pool,
            workers=args.workers,
        )  # fmt: skip
        pids = server.processes() | {"fakes": fakes.pid, "clients": __import__("os").getpid()}
        samples: dict[str, list[Sample]] = {name: [] for name in [*pids, "machine"]}
        marks = {"start": time.perf_counter()}
        lag = LoopLag()
        background = [
            asyncio.create_task(lag.run()),
            asyncio.create_task(watch(pids, samples, 0.5)),
        ]
        failures: list[str] = []
        await asyncio.sleep(1)
        marks["idle"] = time.perf_counter()
        clients = await connect_all(server.url, args, failures)
        await asyncio.sleep(2)
        marks["connected"] = time.perf_counter()
        turns = await stream_all(clients, args, failures)
        marks["streamed"] = time.perf_counter()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        for task in background:
            task.cancel()
        dump = await fakes.dump()
        sent: dict[str, list[float]] = {}
        for tag, _ordinal, at in dump.pop("log"):
            sent.setdefault(tag, []).append(at)
        return Run(turns, failures, sent, samples, lag, marks, dump, server.log_problems())
    finally:
        if server is not None:
            await server.stop()
        await fakes.close()


def nearest(samples: list[Sample], at: float) -> Sample:
    """The sample taken closest to ``at``."""
    return min(samples, key=lambda s: abs(s.at - at))


def summarise(result: Run, args: argparse.Namespace) -> str:
    """The run's figures as markdown."""
    turns = result.turns
    answered = [t for t in turns if t.done is not None]
    firsts = [t.deltas[0] for t in turns if t.deltas]
    all_streaming = max(firsts) if len(firsts) == len(turns) and turns else None
    window_end = min((t.done for t in answered), default=None)
    errors = sum(len(t.errors) for t in turns)
    not_completed = sum(t.status != "completed" for t in turns)
    mismatched = sum("".join(t.text) != t.expected for t in answered if t.status == "completed")
    pairs, steady = [], []
    for t in turns:
        for sent, got in zip(result.sent.get(t.tag, []), t.deltas, strict=False):
            pairs.append((got - sent) * 1000)
            if all_streaming and window_end and all_streaming <= sent <= window_end:
                steady.append((got - sent) * 1000)
    ttfa = [(t.first_audio - t.created) * 1000 for t in turns if t.first_audio]
    server_ttfa = [t.server_ttfa_ms for t in turns if t.server_ttfa_ms is not None]
    speakable_at = {t.tag: first_sentence_chunk(t.expected) for t in turns}
    sentence_ttfa = [
        (t.first_audio - result.sent[t.tag][speakable_at[t.tag]]) * 1000
        for t in turns
        if t.first_audio and len(result.sent.get(t.tag, [])) > speakable_at[t.tag]
    ]
    s, marks = result.samples, result.marks
    lines = [
        f"## Load: {args.sessions} sessions, {args.rate:g} chunks/s each, "
        f"answer ×{args.answers}, fake TTS chunks of {args.tts_chunk} B"
        + (f", httpx pool lifted (keepalive {args.unlimited_pool})" if args.unlimited_pool else "")
        + (", no permessage-deflate" if args.no_deflate else "")
        + (f", {args.workers} workers behind HAProxy" if args.workers > 1 else ""),
        "",
        "| figure | value |",
        "|---|---|",
        f"| sessions connected / asked | {len(turns)} / {args.sessions} |",
        f"| connection or session failures | {len(result.failures)} |",
        f"| `error` events | {errors} |",
        f"| responses not `completed` (failed, cancelled or missing response.done) | "
        f"{not_completed} |",
        f"| completed responses whose text differs from what the fake sent | {mismatched} |",
        f"| server log lines at WARNING+ | {len(result.log_problems)} |",
    ]
    if all_streaming and window_end and window_end > all_streaming:
        lines.append(
            f"| steady window (all {len(turns)} streaming) | {window_end - all_streaming:.1f} s, "
            f"{len(steady)} deltas |"
        )
    else:
        lines.append("| steady window (all sessions streaming) | never reached |")
    lines += _latency_rows("text delta latency, steady window", steady)
    lines += _latency_rows("text delta latency, whole run", pairs)
    lines += _latency_rows("response.create → first audio frame (client)", ttfa)
    lines += _latency_rows("time_to_first_audio_ms (server's timings)", server_ttfa)
    lines += _latency_rows("first sentence complete upstream → first audio frame", sentence_ttfa)
    lines += _latency_rows(
        "client loop lag (10 ms timer), steady window",
        result.lag.between(all_streaming or marks["connected"], window_end or marks["streamed"]),
    )
    lines += _cpu_rows(s, marks, all_streaming, window_end)
    for name in _serving(s):
        idle, connected = nearest(s[name], marks["idle"]), nearest(s[name], marks["connected"])
        peak = max(x.hwm_kib for x in s[name])
        lines.append(
            f"| {name} RSS idle → {len(turns)} idle sessions → peak (VmHWM) | "
            f"{idle.rss_kib / 1024:.0f} → {connected.rss_kib / 1024:.0f} → {peak / 1024:.0f} MiB |"
        )
    if "server" in s:
        one = s["server"]
        idle, connected = nearest(one, marks["idle"]), nearest(one, marks["connected"])
        peak = max(x.hwm_kib for x in one)
        lines += [
            f"| server memory per idle session | "
            f"{(connected.rss_kib - idle.rss_kib) / max(len(turns), 1):.0f} KiB |",
            f"| server memory per streaming session (peak − idle) / sessions | "
            f"{(peak - idle.rss_kib) / max(len(turns), 1):.0f} KiB |",
            f"| server fds / threads at peak | {max(x.fds for x in s['server'])} / "
            f"{max(x.threads for x in s['server'])} |",
        ]
    audio_s = sum(t.audio_bytes for t in turns) / PCM_BYTES_PER_S
    lines += [
        f"| audio delivered | {audio_s:.0f} s of speech "
        f"({audio_s / max(len(answered), 1):.1f} s per response) |",
        f"| fake speech: renders during the run / requests served | "
        f"{result.fakes_counters['renders'] - 0} (all before the run) / "
        f"{result.fakes_counters['speech_served']} |",
    ]
    failures = sorted({f.split(":", 2)[-1].strip()[:120] for f in result.failures})[:5]
    codes = sorted({c for t in turns for c in t.errors})[:6]
    if failures or codes:
        lines += [
            "",
            f"Failures (distinct, first 5): {failures}",
            "",
            "Errors (distinct, first 6):",
            "",
            *(f"- {c}" for c in codes),
        ]
    return "\n".join(lines)


def _serving(s: dict[str, list[Sample]]) -> list[str]:
    """The processes that serve: "server", or each worker, HAProxy and the supervisor."""
    return [name for name in s if name not in ("fakes", "clients", "machine")]


def _latency_rows(name: str, values: list[float]) -> list[str]:
    if not values:
        return [f"| {name} | no data |"]
    return [
        f"| {name} p50 / p99 / max (ms, n={len(values)}) | {statistics.median(values):.1f} / "
        f"{pct(values, 0.99):.1f} / {max(values):.1f} |"
    ]


def _cpu_rows(
    s: dict[str, list[Sample]], marks: dict[str, float], start: float | None, end: float | None
) -> list[str]:
    rows = []
    begin, finish = (
        (start, end) if start and end and end > start else (marks["connected"], marks["streamed"])
    )
    ours = (*_serving(s), "fakes", "clients")
    for name in ours:
        ramp = cpu_percent(nearest(s[name], marks["idle"]), nearest(s[name], marks["connected"]))
        steady = cpu_percent(nearest(s[name], begin), nearest(s[name], finish))
        busiest = max(cpu_percent(a, b) for a, b in zip(s[name], s[name][1:], strict=False))
        rows.append(
            f"| {name} CPU, % of one core: connecting / streaming window / busiest 0.5 s | "
            f"{ramp:.0f} / {steady:.0f} / {busiest:.0f} |"
        )
    # The machine has 2 cores and is shared: CPU taken by anything else skews every figure.
    window = [cpu_percent(nearest(s[n], begin), nearest(s[n], finish)) for n in ("machine", *ours)]
    whole = [cpu_percent(s[n][0], s[n][-1]) for n in ("machine", *ours)]
    rows.append(
        f"| other processes' CPU (machine − ours), % of one core: streaming window / whole run | "
        f"{window[0] - sum(window[1:]):.0f} / {whole[0] - sum(whole[1:]):.0f} |"
    )
    return rows


def main() -> None:
    """Parse flags, run, print markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50, help="sessions per ramp step")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between ramp steps")
    parser.add_argument("--rate", type=float, default=5, help="LLM chunks per second per session")
    parser.add_argument("--answers", type=int, default=2, help="answers (3 sentences) per reply")
    parser.add_argument("--tts-chunk", type=int, default=9600, help="fake speech chunk bytes")
    parser.add_argument("--timeout", type=float, default=120, help="per-read timeout, seconds")
    parser.add_argument(
        "--workers", type=int, default=1,
        help="run the server as N workers behind HAProxy (talkterm-server --workers N)",
    )  # fmt: skip
    parser.add_argument(
        "--unlimited-pool", type=int, metavar="KEEPALIVE",
        help="what-if: run the server with httpx's 100-connection pool limit lifted",
    )  # fmt: skip
    parser.add_argument(
        "--no-deflate", action="store_true",
        help="what-if: clients offer no permessage-deflate (as if the server had compression=None)",
    )  # fmt: skip
    args = parser.parse_args()
    print(summarise(asyncio.run(run(args)), args))


if __name__ == "__main__":
    main()
