"""Choosing the opening-fragment rule for Piper: first audio, join silence and word error rate.

In one process, with the real splitter and the real Piper engine (no server): the
answer streams in 6-character chunks 10 ms apart (as in issue 17), so its first
segment is complete ``10 ms × chunks`` after the first token; first audio is that
plus Piper's time to its first PCM for that segment, measured. ``first_fragment``
0 is the rule before issue 17 (the whole first sentence). For every rule and
opening, ``--wer-runs`` whole answers are synthesised segment by segment as the
server does, the silence at the first join is measured from the audio, and the
answer is transcribed (faster-whisper tiny.en) for its word error rate.

Reproduce (from the repository root)::

    uptime
    .venv/bin/python bench/fragment_rule.py                  # markdown on stdout
    .venv/bin/python bench/fragment_rule.py --rounds 10 --wer-runs 2
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

from bench.server_bench import pct  # noqa: E402
from bench.speech_quality import (  # noqa: E402
    OPENINGS,
    answer,
    join_silence_ms,
    transcribe,
    word_error_rate,
)
from server.speech.joins import seamless  # noqa: E402
from server.speech.piper import PiperTTS  # noqa: E402
from server.speech.sentences import Segment, SentenceSplitter  # noqa: E402
from server.speech.speakable import speakable  # noqa: E402

CHUNK, CHUNK_GAP_MS = 6, 10.0


def segments(text: str, fragment: int) -> tuple[list[Segment], float]:
    """The answer's segments, and when the first one was complete (ms after the first token)."""
    splitter = SentenceSplitter(first_clause_min=PiperTTS.first_clause_min, first_fragment=fragment)
    out: list[Segment] = []
    ready: float | None = None
    pieces = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    for index, piece in enumerate(pieces):
        out += splitter.feed(piece)
        if out and ready is None:
            ready = index * CHUNK_GAP_MS
    out += splitter.flush()
    return out, ready if ready is not None else (len(pieces) - 1) * CHUNK_GAP_MS


async def first_pcm_ms(tts: PiperTTS, text: str) -> float:
    """Piper's time to its first PCM chunk for ``text``."""
    began = time.perf_counter()
    stream = tts.synthesize(speakable(text))
    async for _pcm in stream:
        break
    took = (time.perf_counter() - began) * 1000
    await stream.aclose()  # type: ignore[attr-defined]
    return took


async def spoken(tts: PiperTTS, parts: list[Segment]) -> tuple[bytes, int]:
    """The whole answer's audio, segment after segment, and the byte where segment 2 starts."""
    audio = bytearray()
    join = 0
    for index, part in enumerate(parts):
        if index == 1:
            join = len(audio)
        async for pcm in seamless(tts.synthesize(speakable(part.text)), part):
            audio += pcm
    return bytes(audio), join


async def main(rules: list[int], rounds: int, wer_runs: int) -> None:
    tts = PiperTTS()
    first: dict[tuple[int, str], list[float]] = {}
    for _ in range(rounds):
        for name in OPENINGS:
            for rule in rules:
                parts, ready = segments(answer(name), rule)
                await asyncio.sleep(0.2)  # an idle pause, as before an answer
                took = await first_pcm_ms(tts, parts[0].text)
                first.setdefault((rule, name), []).append(ready + took)
    print(
        "| rule (first_fragment) | opening | first segment | first audio p50 / p90 ms "
        "| silence at first join ms | WER |"
    )
    print("|---|---|---|---|---|---|")
    for name in OPENINGS:
        for rule in rules:
            parts, _ready = segments(answer(name), rule)
            silences, errors = [], []
            for _ in range(wer_runs):
                audio, join = await spoken(tts, parts)
                silences.append(join_silence_ms(audio, join))
                errors.append(word_error_rate(answer(name), transcribe(audio)))
            values = first[(rule, name)]
            print(
                f"| {rule or 'off (before)'} | {name} | {parts[0].text!r} "
                f"| {statistics.median(values):.0f} / {pct(values, 0.9):.0f} "
                f"| {statistics.median(silences):.0f} | {statistics.mean(errors):.3f} |"
            )
    await tts.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default="0,8,12,16,20", help="first_fragment values")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--wer-runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main([int(r) for r in args.rules.split(",")], args.rounds, args.wer_runs))
