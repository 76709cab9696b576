"""A stand-in microphone: hands the app scripted PCM, records how it was opened and closed."""

from __future__ import annotations

import threading

from tui.errors import AudioUnavailable


class FakeMic:
    """Each ``drain`` returns what ``say`` queued (then silence); ``open`` may refuse."""

    def __init__(self, *, unavailable: str | None = None, silent: bool = False) -> None:
        self.unavailable = unavailable
        self.silent = silent
        self.is_open = False
        self.opened = 0
        self._pending = bytearray()
        self._lock = threading.Lock()

    def open(self) -> None:
        if self.unavailable:
            raise AudioUnavailable(self.unavailable)
        self.opened += 1
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def say(self, pcm: bytes) -> None:
        """Queue audio the next drain hands over."""
        with self._lock:
            self._pending += pcm

    @property
    def drained_all(self) -> bool:
        """Whether everything ``say`` queued has been handed to the app."""
        with self._lock:
            return not self._pending

    def drain(self) -> bytes:
        # As a microphone does: 100 ms a drain, what was said first.
        with self._lock:
            pcm = bytes(self._pending[:4800])
            del self._pending[:4800]
        # 100 ms of silence (all zero when muted) between what was said.
        return pcm or (b"\x00\x00" if self.silent else b"\x01\x00") * 2400
