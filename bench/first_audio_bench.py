"""First audio whatever the opening sentence (issue 17): before and after, interleaved.

Two servers per engine run side by side: *before* from a git revision (``--base``,
extracted with ``git archive``) and *after* from this tree. Each round asks both,
in alternating order, for every opening of ``bench/speech_quality.py``; the fake
upstream streams the answer in 6-character chunks 10 ms apart. Measured per answer:

- first upstream chunk written → first audio byte at the client (WebSocket; and over
  HTTP streaming for the 44-character opening);
- the silence at the first join between segments, from the received audio and the
  ``response.output_audio.segment`` offsets, and how late the second segment's first
  audio arrived against its playback time (a pause the client adds to that silence);
- whether any audio chunk arrived later than its playback time (a gap a client hears);
- for the first ``--wer-runs`` rounds, the word error rate of the whole answer as
  faster-whisper tiny.en hears it;
- at the end, each server's CPU while idle with its client connected (on stderr).

Reproduce (from the repository root)::

    uptime
    .venv/bin/python bench/first_audio_bench.py --base 726e09a            # n = 20
    .venv/bin/python bench/first_audio_bench.py --base 726e09a --rounds 5 --tts piper
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server_bench import pct  # noqa: E402
from bench.speech_quality import (  # noqa: E402
    OPENINGS,
    answer,
    join_silence_ms,
    transcribe,
    word_error_rate,
)
from bench.transports_bench import ASK, cpu_s, extract, server  # noqa: E402
from server import protocol as p  # noqa: E402
from tests.fakes.llm_upstream import FakeLLM, Reply  # noqa: E402
from tests.helpers.client import Client  # noqa: E402

CHUNK, GAP_S = 6, 0.01
BYTES_PER_S = p.PCM_RATE * p.PCM_SAMPLE_WIDTH
SLACK_S = 0.05  # what a client's jitter buffer absorbs (as bench/piper_bench.py)
HTTP_OPENING = "44 characters, no comma"


@dataclass
class Cell:
    """Everything measured for one engine, version and opening."""

    first_ms: list[float] = field(default_factory=list)
    join_ms: list[float] = field(default_factory=list)
    stall_ms: list[float] = field(default_factory=list)
    gaps: int = 0
    wer: list[float] = field(default_factory=list)
    first_segment: str = ""


def reply(text: str) -> Reply:
    return Reply(chunks=[text[i : i + CHUNK] for i in range(0, len(text), CHUNK)], delay=GAP_S)


async def ws_answer(fake: FakeLLM, client: Client, text: str, cell: Cell, wer: bool) -> None:
    """Ask once over the WebSocket and record first audio, join silence, gaps and WER."""
    fake.enqueue(reply(text))
    fake.sent_log.clear()
    await client.ask("go")
    audio = bytearray()
    first: float | None = None
    late = stalled = False
    segments: list[dict[str, object]] = []
    while True:
        event = await client.recv(60)
        now = time.perf_counter()
        assert isinstance(event, dict)
        if event["type"] == p.AUDIO_SEGMENT:
            segments.append(event)
        elif event["type"] == p.AUDIO_DELTA:
            if first is None:
                first = now
                cell.first_ms.append((now - fake.sent_log[0][1]) * 1000)
            behind = now - first - len(audio) / BYTES_PER_S
            if len(segments) == 2 and not stalled:
                stalled = True  # the second segment's first audio: how late it came
                cell.stall_ms.append(max(0.0, behind) * 1000)
            late |= behind > SLACK_S
            audio += base64.b64decode(event["delta"])
        elif event["type"] == p.RESPONSE_DONE:
            break
    cell.gaps += late
    cell.first_segment = str(segments[0]["text"])
    if len(segments) > 1:
        at = round(float(str(segments[1]["audio_start_ms"])) * BYTES_PER_S / 1000)
        cell.join_ms.append(join_silence_ms(bytes(audio), at))
    if wer:
        cell.wer.append(word_error_rate(text, transcribe(bytes(audio))))


async def http_first_audio(fake: FakeLLM, port: int, text: str, cell: Cell) -> None:
    """Ask once over HTTP streaming; first upstream chunk → first audio data line.

    The stream is read to its end: hanging up early would make the server log it.
    """
    fake.enqueue(reply(text))
    fake.sent_log.clear()
    cell_done = False
    async with (
        httpx.AsyncClient(timeout=60) as http,
        http.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=ASK) as response,
    ):
        async for line in response.aiter_lines():
            if not line.startswith("data: {") or '"data"' not in line:
                continue
            choices = json.loads(line[6:])["choices"]
            if not cell_done and choices and "data" in choices[0]["delta"].get("audio", {}):
                cell.first_ms.append((time.perf_counter() - fake.sent_log[0][1]) * 1000)
                cell_done = True


async def run_engine(
    tts: str, before_root: Path, rounds: int, wer_runs: int, idle_s: float
) -> dict[str, Cell]:
    """All rounds for one engine; cells keyed ``version|opening``; then each server's idle CPU."""
    cells: dict[str, Cell] = {}
    async with FakeLLM() as fake, AsyncExitStack() as stack:
        started = {
            "before": await stack.enter_async_context(server(fake, tts, before_root)),
            "after": await stack.enter_async_context(server(fake, tts, ROOT)),
        }
        ports = {version: port for version, (_pid, port) in started.items()}
        clients = {
            # Segments are an extension event now; "before" sent them to everyone.
            version: await Client.open(
                f"ws://127.0.0.1:{port}/v1/realtime", extensions=version == "after"
            )
            for version, port in ports.items()
        }
        for index in range(rounds):
            order = ["before", "after"] if index % 2 == 0 else ["after", "before"]
            for name in OPENINGS:
                for version in order:
                    cell = cells.setdefault(f"{version}|{name}", Cell())
                    await asyncio.sleep(0.3)  # both servers idle before each answer
                    await ws_answer(fake, clients[version], answer(name), cell, index < wer_runs)
            for version in order:
                cell = cells.setdefault(f"{version}|HTTP", Cell())
                await asyncio.sleep(0.3)
                await http_first_audio(fake, ports[version], answer(HTTP_OPENING), cell)
        await asyncio.sleep(2.0)  # the last answer's tasks wind down
        before = {version: cpu_s(pid) for version, (pid, _port) in started.items()}
        await asyncio.sleep(idle_s)
        for version, (pid, _port) in started.items():
            share = (cpu_s(pid) - before[version]) / idle_s * 100
            print(
                f"Idle CPU of the {tts} server, {version}, connected, over {idle_s:.0f} s: "
                f"{share:.2f} % of a core",
                file=sys.stderr,
            )
        for client in clients.values():
            await client.close()
    return cells


def cell_row(tts: str, version: str, name: str, cell: Cell) -> str:
    first = cell.first_ms
    join = f"{statistics.median(cell.join_ms):.0f}" if cell.join_ms else "–"
    wer = f"{statistics.mean(cell.wer):.3f}" if cell.wer else "–"
    gaps = f"{cell.gaps}/{len(first)}" if name != "HTTP" else "–"
    stall = (
        f"{statistics.median(cell.stall_ms):.0f} / {pct(cell.stall_ms, 0.9):.0f}"
        if cell.stall_ms
        else "–"
    )
    return (
        f"| {tts} | {name} | {version} | {len(first)} | {statistics.median(first):.0f} "
        f"| {pct(first, 0.9):.0f} | {join} | {stall} | {gaps} | {wer} | {cell.first_segment!r} |"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="talkterm-before-") as before:
        extract(args.base, before)
        print(
            "| engine | opening | version | n | first audio p50 ms | p90 ms "
            "| silence at first join ms | late at first join p50 / p90 ms "
            "| answers with a gap | WER | first segment |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for tts in args.tts.split(","):
            cells = await run_engine(tts, Path(before), args.rounds, args.wer_runs, args.idle)
            for name in [*OPENINGS, "HTTP"]:
                for version in ("before", "after"):
                    print(cell_row(tts, version, name, cells[f"{version}|{name}"]), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="726e09a", help="git revision measured as 'before'")
    parser.add_argument("--tts", default="piper,espeak")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--wer-runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measured")
    asyncio.run(main(parser.parse_args()))
