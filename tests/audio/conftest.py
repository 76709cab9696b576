"""The virtual sound card rig: a PulseAudio null sink, and a recorder on its monitor.

``null_sink`` runs scripts/audio-sink.sh once per session and exports what it
prints into ``os.environ`` before sounddevice (PortAudio) is initialised, so
the ALSA default device plays into a null sink. ``recorder()`` captures that
sink's monitor with ``parec`` while a test plays. Each process gets a sink of
its own (``talkterm_test_<pid>``, via ``PULSE_SINK``) beside the rig's shared
``talkterm_test``: another test run or bench playing at the same time would
otherwise be mixed into the recording.

The sink neither resamples nor mixes, so a recording holds the played samples
bit for bit, and its silence is exact zeros. The sink renders a little ahead
of the clock, as far as the recorder's latency (``latency_ms``), and cannot
take that back when a player flushes: a recording places a flush only to
within that latency, so measurements of it record with 2 ms.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SINK_SCRIPT = ROOT / "scripts" / "audio-sink.sh"
SINK = "talkterm_test"
RATE = 24_000
WINDOW_MS = 10
# Mean absolute amplitude of a 10 ms window above which it counts as sound. The
# null sink's silence is exact zeros, and speech sits far above this.
THRESHOLD = 200


def start_null_sink() -> dict[str, str]:
    """Start the null sink rig and export its variables into this process."""
    done = subprocess.run(
        ["bash", str(SINK_SCRIPT)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/audio-sink.sh failed: {done.stderr.strip()}")
    env: dict[str, str] = {}
    for line in done.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if name and value:
            env[name] = value
    os.environ.update(env)
    env["PULSE_SINK"] = os.environ["PULSE_SINK"] = _private_sink()
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        # PortAudio read ALSA's configuration when it was imported, before the rig
        # existed; start it again so the pulse default device is seen.
        sd._terminate()
        sd._initialize()
    return env


def _pactl(*args: str) -> str:
    done = subprocess.run(
        ["pactl", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        raise RuntimeError(f"pactl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _private_sink() -> str:
    """Load this process's null sink (unloaded at exit), dropping those of dead processes."""
    for line in _pactl("list", "short", "modules").splitlines():
        module, _, rest = line.partition("\t")
        name = rest.partition(f"sink_name={SINK}_")[2].split(" ")[0]
        if name.isdigit() and not Path(f"/proc/{name}").exists():
            _pactl("unload-module", module)
    sink = f"{SINK}_{os.getpid()}"
    module = _pactl(
        "load-module",
        "module-null-sink",
        f"sink_name={sink}",
        "norewinds=1",
        f"rate={RATE}",
        "channels=1",
        "format=s16le",
        f"sink_properties=device.description={sink}",
    ).strip()
    atexit.register(_pactl, "unload-module", module)
    return sink


@pytest.fixture(scope="session")
def null_sink() -> dict[str, str]:
    """The talkterm_test null sink is the default output; returns the exported variables."""
    for tool in ("pulseaudio", "parec"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)")
    return start_null_sink()


@dataclass(frozen=True)
class Piece:
    """A stretch of a recording, found in the audio that was played."""

    at: int
    """Its first sample in the recording."""
    source: int
    """Its first sample in the played audio."""
    frames: int

    @property
    def source_end(self) -> int:
        """The played audio's sample just after this piece."""
        return self.source + self.frames


class Recording:
    """Captured PCM16 mono 24 kHz samples and the analysis the tests need."""

    def __init__(self) -> None:
        self.raw = bytearray()
        # Wall time of sample 0, estimated from the earliest-looking read (see note_read).
        self._origin = float("inf")

    @classmethod
    def of(cls, pcm: bytes) -> Recording:
        """Wrap PCM16 mono 24 kHz (an input, say) to analyse it like a recording."""
        rec = cls()
        rec.raw += pcm
        return rec

    @property
    def samples(self) -> array[int]:
        """All samples captured so far."""
        samples = array("h")
        samples.frombytes(bytes(self.raw[: len(self.raw) & ~1]))
        return samples

    @property
    def duration_ms(self) -> float:
        """Length of the recording in ms."""
        return len(self.raw) // 2 * 1000 / RATE

    def note_read(self, when: float, chunk: bytes) -> None:
        """Append a chunk read at wall time ``when`` (time.monotonic)."""
        self.raw += chunk
        # A read can only come after its samples were captured, so the smallest
        # (read time - recorded length) is the best bound for when sample 0 was taken.
        self._origin = min(self._origin, when - len(self.raw) // 2 / RATE)

    def ms_at(self, when: float) -> float:
        """Position in the recording, in ms, of wall time ``when`` (time.monotonic)."""
        return (when - self._origin) * 1000

    def loud_windows(self, threshold: int = THRESHOLD) -> list[bool]:
        """One flag per 10 ms window: whether its mean absolute amplitude exceeds threshold."""
        samples = self.samples
        size = RATE * WINDOW_MS // 1000
        flags = []
        for start in range(0, len(samples) - size + 1, size):
            window = samples[start : start + size]
            flags.append(sum(map(abs, window)) / size > threshold)
        return flags

    def speech_ms(self, threshold: int = THRESHOLD) -> float:
        """Total non-silent time in ms, counted in 10 ms windows."""
        return sum(self.loud_windows(threshold)) * WINDOW_MS

    def silent_gaps(self, min_ms: float, threshold: int = THRESHOLD) -> list[tuple[float, float]]:
        """Silent stretches of at least ``min_ms`` between sounds, as (start_ms, length_ms)."""
        flags = self.loud_windows(threshold)
        gaps: list[tuple[float, float]] = []
        last_loud: int | None = None
        for index, loud in enumerate(flags):
            if not loud:
                continue
            if last_loud is not None and (index - last_loud - 1) * WINDOW_MS >= min_ms:
                gaps.append(((last_loud + 1) * WINDOW_MS, (index - last_loud - 1) * WINDOW_MS))
            last_loud = index
        return gaps

    def stretches(self) -> list[tuple[int, int]]:
        """Runs of samples with no exact zero in them, as (first, end) sample indices."""
        runs: list[tuple[int, int]] = []
        start: int | None = None
        for index, value in enumerate(self.samples):
            if value and start is None:
                start = index
            elif not value and start is not None:
                runs.append((start, index))
                start = None
        if start is not None:
            runs.append((start, len(self.raw) // 2))
        return runs

    def pieces(self, source: bytes) -> list[Piece]:
        """The stretches, each found in ``source`` (PCM16 with no exact zero) sample for sample."""
        found = []
        for first, end in self.stretches():
            heard = bytes(self.raw[first * 2 : end * 2])
            where = source.find(heard)
            while where >= 0 and where % 2:  # a match must start on a sample, not inside one
                where = source.find(heard, where + 1)
            if where < 0:
                raise AssertionError(f"recorded samples {first}:{end} were never played")
            found.append(Piece(first, where // 2, end - first))
        return found

    def first_sound_ms(self, level: int = THRESHOLD) -> float | None:
        """Time in ms of the first sample louder than ``level``, or None if all silent."""
        for index, value in enumerate(self.samples):
            if abs(value) > level:
                return index * 1000 / RATE
        return None

    def last_sound_ms(self, level: int = THRESHOLD) -> float | None:
        """Time in ms just after the last sample louder than ``level``, or None if all silent."""
        samples = self.samples
        for index in range(len(samples) - 1, -1, -1):
            if abs(samples[index]) > level:
                return (index + 1) * 1000 / RATE
        return None


@contextmanager
def record(tail_ms: float = 150, latency_ms: int = 10) -> Iterator[Recording]:
    """Capture the null sink's monitor for the duration of the block, plus ``tail_ms``."""
    rec = Recording()
    parec = subprocess.Popen(
        [
            "parec",
            f"--device={os.environ.get('PULSE_SINK', SINK)}.monitor",
            "--format=s16le",
            f"--rate={RATE}",
            "--channels=1",
            f"--latency-msec={latency_ms}",
            "--raw",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert parec.stdout is not None

    def pump() -> None:
        assert parec.stdout is not None
        while chunk := parec.stdout.read1(4096):
            rec.note_read(time.monotonic(), chunk)

    reader = threading.Thread(target=pump, name="parec-reader", daemon=True)
    reader.start()
    try:
        _wait_for_audio(rec, parec)
        yield rec
        time.sleep(tail_ms / 1000)
    finally:
        parec.terminate()
        reader.join(timeout=5)
        parec.wait(timeout=5)
        assert parec.stderr is not None
        parec.stderr.close()


def _wait_for_audio(rec: Recording, parec: subprocess.Popen[bytes]) -> None:
    """Block until parec delivers its first samples, so nothing played is missed."""
    deadline = time.monotonic() + 5
    while not rec.raw:
        if parec.poll() is not None or time.monotonic() > deadline:
            parec.kill()  # so reading its stderr below cannot block
            err = parec.stderr.read().decode(errors="replace") if parec.stderr else ""
            raise RuntimeError(f"parec did not start: {err.strip() or 'no output'}")
        time.sleep(0.005)


@pytest.fixture
def recorder(null_sink: dict[str, str]) -> Callable[..., AbstractContextManager[Recording]]:
    """``with recorder() as rec:`` records the null sink while the block runs."""
    return record
