"""What a recording of the null sink holds: PCM16 mono 24 kHz samples, and their analysis."""

from __future__ import annotations

from array import array
from dataclasses import dataclass

RATE = 24_000
WINDOW_MS = 10
# Mean absolute amplitude of a 10 ms window above which it counts as sound. The
# null sink's silence is exact zeros, and speech sits far above this.
THRESHOLD = 200


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
