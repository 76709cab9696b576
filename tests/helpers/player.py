"""A stand-in for the app's audio player that records every call and plays on a simulated clock."""

from __future__ import annotations

import threading
import time
from typing import Any

from server import protocol as p
from tui.errors import AudioUnavailable


class FakePlayer:
    """Records every call and "plays" on a simulated clock (``speed`` audio ms per wall ms).

    With ``speed=0`` the clock stands still and tests set ``position`` by hand.
    """

    def __init__(self, *, speed: float = 1.0, unavailable: str | None = None) -> None:
        self.speed = speed
        self.unavailable = unavailable
        self.calls: list[tuple[str, Any]] = []
        self.underruns = 0
        self.position = 0.0
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._accepting = False
        self._fed_ms = 0.0
        self._played_before = 0.0
        self._since: float | None = None
        self.paused = False

    def _record(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))

    def names(self) -> list[str]:
        """The calls made, by name."""
        return [name for name, _ in self.calls]

    def open(self) -> None:
        self._record("open")
        if self.unavailable:
            raise AudioUnavailable(self.unavailable)

    def close(self) -> None:
        self._record("close")

    def begin(self, generation: int) -> None:
        with self._lock:
            self._record("begin", generation)
            self._generation, self._accepting = generation, True
            self._fed_ms = self._played_before = self.position = 0.0
            self._since, self.paused = None, False

    def feed(self, generation: int, pcm: bytes) -> None:
        with self._lock:
            if generation != self._generation or not self._accepting:
                self._record("feed_dropped", generation)
                return
            self._record("feed", len(pcm))
            self._fed_ms += p.pcm_ms(len(pcm))
            if self._since is None and not self.paused:
                self._since = time.monotonic()

    def _played(self) -> float:
        if self.speed == 0:
            return min(self.position, self._fed_ms)
        running = 0.0 if self._since is None else (time.monotonic() - self._since) * 1000
        return min(self._fed_ms, self._played_before + running * self.speed)

    def pause(self) -> None:
        with self._lock:
            self._record("pause")
            self._played_before, self._since, self.paused = self._played(), None, True

    def resume(self) -> None:
        with self._lock:
            self._record("resume")
            self.paused = False
            self._since = time.monotonic()

    def stop(self) -> float:
        with self._lock:
            played = self._played()
            self._record("stop", played)
            self._accepting, self._since, self.paused = False, None, False
            self._played_before = played
            self._fed_ms = played
            return played

    def mark_finished(self, generation: int) -> None:
        self._record("mark_finished", generation)

    @property
    def played_ms(self) -> float:
        with self._lock:
            return self._played()

    @property
    def buffered_ms(self) -> float:
        with self._lock:
            return max(0.0, self._fed_ms - self._played())
