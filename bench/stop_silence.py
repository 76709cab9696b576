"""Measure how fast Stop (and Pause) make the sound card silent, from a recording.

A 440 Hz tone plays through ``tui.player.Player`` into the PulseAudio null sink
``talkterm_test`` (scripts/audio-sink.sh, started by this script) while
``parec`` records the sink's monitor. For each run the time from the ``stop()``
(or ``pause()``) call to the last tone sample in the recording is measured; the
wall clock is mapped onto the recording from parec's read times, which is good
to about ±10 ms (so a value can come out slightly negative). It also reports
how far ``stop()``'s returned position is from the audio actually recorded.

Reproduce (from the repository root)::

    .venv/bin/python bench/stop_silence.py --runs 20

Prints a markdown table (p50/p95/max in ms).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.audio.conftest import RATE, record, start_null_sink
from tui.player import Player


def tone(ms: float, hz: float = 440, level: int = 8000) -> bytes:
    """A sine tone, PCM16 mono 24 kHz."""
    count = int(RATE * ms / 1000)
    wave = array("h", (int(level * math.sin(2 * math.pi * hz * i / RATE)) for i in range(count)))
    return wave.tobytes()


# Longer than any run, so the tone is still playing when it is halted.
TONE = tone(3000)


@dataclass(frozen=True)
class Run:
    """One measurement: ms from the call to silence, ms of tone heard, the call's result."""

    silent_after: float
    heard_ms: float
    result: object


def halt_run(player: Player, halt: Callable[[], object], rng: random.Random) -> Run:
    """Play a tone, call ``halt`` after a random while, and record the sink."""
    with record() as rec:
        player.begin(1)
        player.feed(1, TONE)
        time.sleep(rng.uniform(0.4, 0.9))
        halted_at = time.monotonic()
        result = halt()
        time.sleep(0.3)
    player.stop()
    first, last = rec.first_sound_ms(), rec.last_sound_ms()
    if first is None or last is None:
        raise RuntimeError("the recording is silent: is the null sink the default output?")
    return Run(silent_after=last - rec.ms_at(halted_at), heard_ms=last - first, result=result)


def measure(player: Player, runs: int, seed: int) -> dict[str, list[float]]:
    """Run the stop and pause measurements ``runs`` times each."""
    rng = random.Random(seed)
    stops, pauses, errors = [], [], []
    for _ in range(runs):
        stop = halt_run(player, player.stop, rng)
        stops.append(stop.silent_after)
        assert isinstance(stop.result, float)
        errors.append(abs(stop.result - stop.heard_ms))
        pauses.append(halt_run(player, player.pause, rng).silent_after)
    return {
        "Stop → silence": stops,
        "Pause → silence": pauses,
        "stop() position vs. recorded (abs. error)": errors,
    }


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def table(results: dict[str, list[float]], player: Player) -> str:
    """The results as a markdown table."""
    lines = [
        f"Player block {player.block_ms} ms, PortAudio output latency "
        f"{player.latency_ms:.0f} ms, PulseAudio null sink at {RATE} Hz.",
        "",
        "| measure | runs | p50 ms | p95 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, values in results.items():
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        lines.append(f"| {name} | {len(values)} | {p50:.1f} | {p95:.1f} | {max(values):.1f} |")
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run the measurement, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="repetitions (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the random stop times")
    args = parser.parse_args()
    start_null_sink()
    with Player() as player:
        print(table(measure(player, args.runs, args.seed), player))


if __name__ == "__main__":
    main()
