"""The virtual sound card rig: a PulseAudio null sink, and a recorder on its monitor.

``null_sink`` runs scripts/audio-sink.sh once per session and exports what it
prints into ``os.environ`` before sounddevice (PortAudio) is initialised, so
the ALSA default device plays into the ``talkterm_test`` sink. ``recorder()``
captures that sink's monitor with ``parec`` while a test plays.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        # PortAudio read ALSA's configuration when it was imported, before the rig
        # existed; start it again so the pulse default device is seen.
        sd._terminate()
        sd._initialize()
    return env


@pytest.fixture(scope="session")
def null_sink() -> dict[str, str]:
    """The talkterm_test null sink is the default output; returns the exported variables."""
    for tool in ("pulseaudio", "parec"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)")
    return start_null_sink()


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
def record(tail_ms: float = 150) -> Iterator[Recording]:
    """Capture the null sink's monitor for the duration of the block, plus ``tail_ms``."""
    rec = Recording()
    parec = subprocess.Popen(
        [
            "parec",
            f"--device={SINK}.monitor",
            "--format=s16le",
            f"--rate={RATE}",
            "--channels=1",
            "--latency-msec=10",
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
def recorder(null_sink: dict[str, str]) -> Callable[[], AbstractContextManager[Recording]]:
    """``with recorder() as rec:`` records the null sink while the block runs."""
    return record
