"""Measure how fast Stop and Pause make the sound card silent, and how exactly Resume resumes.

``tui.player.Player`` plays into a PulseAudio null sink of this process's own
(tests/helpers/audio_rig.py on top of scripts/audio-sink.sh, started by this
script) while ``parec`` records the sink's monitor, which holds the played
samples bit for bit.

* Stop runs play a 440 Hz tone and call ``stop()`` after a random while: the
  time from the call to the last tone sample, and how far ``stop()``'s returned
  position is from the length of tone recorded.
* Pause runs play seeded noise with no zero sample, pause after a random while,
  resume 0.3 s later and play to the end. The recording then splits into
  stretches of sound, each found sample-exactly in the noise: the time from
  ``pause()`` to the end of the first stretch (Pause → silence), and the seam —
  where the second stretch starts in the noise minus where the first ended
  (positive: skipped, negative: repeated).

Times of calls are mapped onto the recording from parec's read times, good to a
few ms (a value can come out slightly negative); the seam needs no clock. The
null sink renders ahead of its clock by up to the recorder's latency and cannot
take that back on a flush, so seams are only resolved to about that latency
(``--monitor-latency``, 2 ms by default; the old table used 10 ms).

Reproduce (from the repository root)::

    .venv/bin/python bench/stop_silence.py --runs 20

``--load 2`` adds two busy processes (this machine has two cores); ``--block-ms``
tries other block sizes. Prints a markdown table (p50/p95/max in ms).
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import random
import statistics
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.audio_rig import record, start_null_sink
from tests.helpers.recording import RATE, Recording
from tui.audio.player import Player

Recorder = Callable[[], AbstractContextManager[Recording]]


def tone(ms: float, hz: float = 440, level: int = 8000) -> bytes:
    """A sine tone, PCM16 mono 24 kHz."""
    count = int(RATE * ms / 1000)
    wave = array("h", (int(level * math.sin(2 * math.pi * hz * i / RATE)) for i in range(count)))
    return wave.tobytes()


def noise(ms: float, seed: int = 7) -> bytes:
    """Seeded noise with no exact zero, so every stretch of it can be found again."""
    rng = random.Random(seed)
    count = int(RATE * ms / 1000)
    return array(
        "h", (rng.choice((-1, 1)) * rng.randint(300, 6000) for _ in range(count))
    ).tobytes()


# Longer than any run, so the tone is still playing when it is halted.
TONE = tone(3000)
NOISE = noise(2000)
HOLD_S = 0.3


@dataclass(frozen=True)
class StopRun:
    """ms from ``stop()`` to silence, and |returned position - tone recorded|."""

    silent_after: float
    position_error: float


@dataclass(frozen=True)
class PauseRun:
    """ms from ``pause()`` to silence, and the resume seam in ms (+ skipped, - repeated)."""

    silent_after: float
    seam: float


def stop_run(player: Player, recorder: Recorder, rng: random.Random) -> StopRun:
    """Play a tone, stop it after a random while, and record the sink."""
    with recorder() as rec:
        player.begin(1)
        player.feed(1, TONE)
        time.sleep(rng.uniform(0.4, 0.9))
        stopped_at = time.monotonic()
        played = player.stop()
        time.sleep(0.3)
    first, last = rec.first_sound_ms(), rec.last_sound_ms()
    if first is None or last is None:
        raise RuntimeError("the recording is silent: is the null sink the default output?")
    return StopRun(last - rec.ms_at(stopped_at), abs(played - (last - first)))


def pause_run(player: Player, recorder: Recorder, rng: random.Random) -> PauseRun:
    """Play noise, pause it after a random while, resume, play out, and record the sink."""
    with recorder() as rec:
        player.begin(1)
        player.feed(1, NOISE)
        player.mark_finished(1)
        time.sleep(rng.uniform(0.4, 0.9))
        paused_at = time.monotonic()
        player.pause()
        time.sleep(HOLD_S)
        player.resume()
        while player.buffered_ms > 0:
            time.sleep(0.01)
        time.sleep(0.2)
    player.stop()
    pieces = rec.pieces(NOISE)
    # The pause is the long silence; any other break would be a device underrun.
    gaps = [
        (after.at - before.at - before.frames, before, after)
        for before, after in itertools.pairwise(pieces)
    ]
    if not gaps:
        raise RuntimeError(f"no pause in the recording: {pieces}")
    _, before, after = max(gaps, key=lambda gap: gap[0])
    silent_after = (before.at + before.frames) * 1000 / RATE - rec.ms_at(paused_at)
    return PauseRun(silent_after, (after.source - before.source_end) * 1000 / RATE)


def measure(player: Player, recorder: Recorder, runs: int, seed: int) -> dict[str, list[float]]:
    """Run the stop and pause measurements ``runs`` times each."""
    rng = random.Random(seed)
    stops = [stop_run(player, recorder, rng) for _ in range(runs)]
    pauses = [pause_run(player, recorder, rng) for _ in range(runs)]
    return {
        "Stop → silence": [run.silent_after for run in stops],
        "stop() position vs. recorded (abs. error)": [run.position_error for run in stops],
        "Pause → silence": [run.silent_after for run in pauses],
        "Resume seam (signed)": [run.seam for run in pauses],
    }


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def table(results: dict[str, list[float]], player: Player, header: str) -> str:
    """The results as a markdown table."""
    lines = [
        f"Player block {player.block_ms} ms, PortAudio output latency "
        f"{player.latency_ms:.0f} ms, {header}; buffer underruns {player.underruns}, "
        f"device underruns {getattr(player, 'xruns', 'n/a')}.",
        "",
        "| measure | runs | p50 ms | p95 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    seams = results.pop("Resume seam (signed)")
    results["Resume seam, abs. (skipped or repeated)"] = [abs(seam) for seam in seams]
    for name, values in results.items():
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        lines.append(f"| {name} | {len(values)} | {p50:.1f} | {p95:.1f} | {max(values):.1f} |")
    lines += [
        "",
        f"Resume seam, signed (+ skipped, − repeated): median {statistics.median(seams):.2f} ms, "
        f"range {min(seams):.2f} … {max(seams):.2f} ms.",
    ]
    return "\n".join(lines)


def _spin(stop_at: float) -> None:
    while time.monotonic() < stop_at:
        pass


@contextmanager
def busy(processes: int) -> Iterator[None]:
    """Keep ``processes`` CPU-bound processes running for the duration of the block."""
    workers = [
        multiprocessing.Process(target=_spin, args=(time.monotonic() + 3600,), daemon=True)
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()
            worker.join()


def main() -> None:
    """Parse arguments, run the measurement, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="repetitions (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the random halt times")
    parser.add_argument("--block-ms", type=int, default=20, help="player block (default 20)")
    parser.add_argument(
        "--monitor-latency", type=int, default=2, help="parec latency in ms (default 2)"
    )
    parser.add_argument("--load", type=int, default=0, help="busy processes alongside (default 0)")
    args = parser.parse_args()
    start_null_sink()

    def recorder() -> AbstractContextManager[Recording]:
        return record(latency_ms=args.monitor_latency)

    header = (
        f"PulseAudio null sink at {RATE} Hz recorded with {args.monitor_latency} ms latency, "
        f"{args.load} busy processes"
    )
    with busy(args.load), Player(block_ms=args.block_ms) as player:
        print(table(measure(player, recorder, args.runs, args.seed), player, header))


if __name__ == "__main__":
    main()
