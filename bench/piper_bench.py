"""Piper against espeak-ng, side by side in one run, on the real server process.

Reproduce (from the repository root, after `bash scripts/bootstrap.sh test --co -q`):

    .venv/bin/python bench/piper_bench.py            # all figures, markdown on stdout
    .venv/bin/python bench/piper_bench.py --quick    # fewer repetitions, fewer session counts
    .venv/bin/python bench/piper_bench.py --piper-threads 1   # two runs side by side

Figures:
- first upstream token → first audio byte at the client, Piper vs espeak-ng (p50/p99);
- N sessions speaking at once (N = 1, 4, 16, …): synthesis real-time factor (wall time to
  produce a session's answer / its length in speech), server CPU seconds per second of
  speech, and whether every session got its audio ahead of playback (no gap);
- the largest N with no gap in any session;
- server RSS with Piper loaded (idle, and after the concurrency runs);
- server start-up time (spawn → ready line) with each engine.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import sample  # noqa: E402
from bench.server_bench import first_audio, row, start_server, stop_server  # noqa: E402
from server import protocol as p  # noqa: E402
from tests.fakes.llm_upstream import FakeLLM, Reply  # noqa: E402
from tests.helpers.client import Client  # noqa: E402

# Four sentences, about 12 s of speech: long enough for look-ahead to matter.
ANSWER = (
    "Sure, here is the answer. The kettle goes on first, and the cups are warmed with a "
    "splash of hot water. Next the leaves go into the pot, one spoon for each person. "
    "After four minutes you pour, and add milk if you like it that way."
)
BYTES_PER_S = p.PCM_RATE * 2
# Audio may arrive this late against its playback time before we call it a gap
# (what a client's jitter buffer absorbs).
GAP_SLACK_S = 0.05


@dataclass(frozen=True, slots=True)
class Round:
    """N sessions answering at once."""

    sessions: int
    rtf: float  # worst session: wall time from ask to its last audio / its speech length
    cpu_per_speech_s: float  # server CPU seconds per second of speech produced
    gapless: int  # sessions whose every chunk arrived before it was due


async def speak_once(client: Client) -> tuple[float, float, bool]:
    """Ask once; (seconds of speech, seconds from ask to last audio, gap-free?)."""
    asked = time.perf_counter()
    await client.ask("go")
    first: float | None = None
    audio = 0
    gapless = True
    last = asked
    while True:
        event = await client.recv(120)
        now = time.perf_counter()
        if isinstance(event, dict) and event["type"] == p.RESPONSE_DONE:
            return audio / BYTES_PER_S, last - asked, gapless
        if isinstance(event, dict) and event["type"] == p.AUDIO_DELTA:
            size = len(event["delta"]) * 3 // 4
            first = first or now
            # This chunk starts playing audio/BYTES_PER_S after the first one did.
            gapless &= now - first <= audio / BYTES_PER_S + GAP_SLACK_S
            audio += size
            last = now


async def concurrent(fake: FakeLLM, url: str, pid: int, sessions: int) -> Round:
    clients = await asyncio.gather(*(Client.open(url) for _ in range(sessions)))
    words = re.findall(r"\S+\s*", ANSWER)  # spaces kept: the splitter needs them
    fake.enqueue(*(Reply(chunks=words, delay=0.005) for _ in range(sessions)))
    before = sample(pid)
    results = await asyncio.gather(*(speak_once(c) for c in clients))
    after = sample(pid)
    await asyncio.gather(*(c.close() for c in clients))
    speech = sum(r[0] for r in results)
    return Round(
        sessions,
        rtf=max(r[1] / r[0] for r in results),
        cpu_per_speech_s=(after.cpu_s - before.cpu_s) / speech,
        gapless=sum(r[2] for r in results),
    )


# Extra server environment for every run (--piper-threads sets TALKTERM_PIPER_THREADS).
SERVER_ENV: dict[str, str] = {}


async def startup(fake: FakeLLM, tts: str) -> tuple[float, asyncio.subprocess.Process, str]:
    began = time.perf_counter()
    proc, url = await start_server(fake, tts=tts, **SERVER_ENV)
    return time.perf_counter() - began, proc, url


async def main(quick: bool) -> None:
    reps = 10 if quick else 20
    counts = [1, 4, 16] if quick else [1, 2, 4, 8, 16]
    lines = ["| figure | n | p50 ms | p99 ms | max ms | target |", "|---|---|---|---|---|---|"]
    notes: list[str] = []
    async with FakeLLM() as fake:
        started: dict[str, list[float]] = {"espeak": [], "piper": []}
        for tts in ("espeak", "piper"):
            took, proc, url = await startup(fake, tts)
            started[tts].append(took)
            audio = await first_audio(fake, url, reps)
            target = "≤ 120 (≤ 4× espeak)" if tts == "piper" else "≤ 150"
            lines.append(row(f"first upstream token → first audio byte ({tts})", audio, target))
            if tts == "piper":
                notes.append(
                    f"Server RSS with Piper loaded, idle: {sample(proc.pid).rss_kib / 1024:.0f} MiB"
                )
                rounds = [await concurrent(fake, url, proc.pid, n) for n in counts]
                peak = sample(proc.pid).hwm_kib / 1024
                notes.append(f"Server peak RSS after the concurrency runs: {peak:.0f} MiB")
            await stop_server(proc)
        for tts in ("espeak", "piper"):
            for _ in range(2 if quick else 4):
                took, proc, _url = await startup(fake, tts)
                started[tts].append(took)
                await stop_server(proc)
    print("\n".join(lines))
    print("\n| sessions at once | worst RTF | server CPU s per s of speech | gap-free sessions |")
    print("|---|---|---|---|")
    for r in rounds:
        print(
            f"| {r.sessions} | {r.rtf:.3f} | {r.cpu_per_speech_s:.3f} | {r.gapless}/{r.sessions} |"
        )
    sustained = max((r.sessions for r in rounds if r.gapless == r.sessions), default=0)
    print(f"\nMost simultaneous Piper speakers with no gap in any session: {sustained}")
    for note in notes:
        print(note)
    for tts, times in started.items():
        print(
            f"Server start-up (spawn → ready line), {tts}: median {statistics.median(times):.2f} s"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--piper-threads", type=int, help="ONNX threads per Piper run")
    args = parser.parse_args()
    if args.piper_threads:
        SERVER_ENV["TALKTERM_PIPER_THREADS"] = str(args.piper_threads)
    asyncio.run(main(args.quick))
