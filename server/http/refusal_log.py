"""Refused requests, logged at a bounded rate.

A client that is refused thousands of times a second must not fill the log:
the first few refusals in each window are logged one line each, the rest are
counted and summed up in one line when the next window opens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("talkterm.server")


class RefusalLog:
    """At most ``burst`` lines per ``window`` seconds, then one line saying how many more."""

    def __init__(
        self, burst: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._burst = burst
        self._window = window
        self._clock = clock
        self._opened = clock()
        self._logged = 0
        self._skipped = 0

    def note(self, code: str, detail: str) -> None:
        """Log one refusal (or count it, when this window has had its lines)."""
        now = self._clock()
        if now - self._opened >= self._window:
            self._roll(now)
        if self._logged < self._burst:
            self._logged += 1
            log.info("refused %s: %s", code, detail)
        else:
            self._skipped += 1

    def _roll(self, now: float) -> None:
        if self._skipped:
            log.info(
                "refused %d more requests in %.0f s (not logged one by one)",
                self._skipped,
                now - self._opened,
            )
        self._opened, self._logged, self._skipped = now, 0, 0


class BoundedRefusals(logging.Filter):
    """A log filter: the libraries' own lines about refused requests (websockets'
    "connection rejected", uvicorn's "Invalid HTTP request") at most ``burst`` per
    ``window`` seconds; the first line of the next window says how many were left out."""

    PREFIXES = ("connection rejected", "Invalid HTTP request received")

    def __init__(
        self, burst: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._burst = burst
        self._window = window
        self._clock = clock
        self._opened = clock()
        self._logged = 0
        self._skipped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Let the line through unless it is one refusal too many."""
        if not isinstance(record.msg, str) or not record.msg.startswith(self.PREFIXES):
            return True
        now = self._clock()
        if now - self._opened >= self._window:
            if self._skipped:
                record.msg += f" (and {self._skipped} refusals not logged before this one)"
            self._opened, self._logged, self._skipped = now, 0, 0
        if self._logged < self._burst:
            self._logged += 1
            return True
        self._skipped += 1
        return False
