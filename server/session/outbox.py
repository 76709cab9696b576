"""One answer's outbox: what is ready for the client, bounded in bytes and seconds of audio.

When the client does not read (or has paused the answer), the outbox fills up and whoever
adds to it waits for room: the producer then stops reading the LLM stream and the speaker
stops synthesising, so a client that does not read costs a bounded amount of memory
(docs/reliability.md, "Hostile inputs").
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any


class Outbox:
    """A FIFO of events whose producers wait while it holds too much."""

    def __init__(
        self, max_bytes: int, max_audio_ms: float, on_size: Callable[[int], None] | None = None
    ) -> None:
        self.max_bytes = max_bytes
        self.max_audio_ms = max_audio_ms
        self._on_size = on_size
        """Told every change of the bytes held (an HTTP answer counts them in a budget)."""
        self.held_s = 0.0
        """Seconds producers have spent waiting for room (the answer was held)."""
        self._entries: deque[tuple[Any, int, float]] = deque()
        self._bytes = 0
        self._audio_ms = 0.0
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def full(self) -> bool:
        """Whether a producer must wait before adding more."""
        return self._bytes >= self.max_bytes or self._audio_ms >= self.max_audio_ms

    def empty(self) -> bool:
        """Whether nothing is queued."""
        return not self._entries

    def put_nowait(self, entry: Any, size: int = 0, audio_ms: float = 0.0) -> None:
        """Queue an entry now, room or not (control events that must never wait)."""
        self._entries.append((entry, size, audio_ms))
        self._bytes += size
        self._audio_ms += audio_ms
        if self._on_size is not None and size:
            self._on_size(size)
        self._ready.set()
        if self.full():
            self._room.clear()

    async def put(self, entry: Any, size: int, audio_ms: float = 0.0) -> None:
        """Queue an entry once there is room; an empty outbox always has room."""
        if self.full():
            started = time.monotonic()
            while self.full():
                self._room.clear()
                await self._room.wait()
            self.held_s += time.monotonic() - started
        self.put_nowait(entry, size, audio_ms)

    async def get(self) -> Any:
        """The oldest entry, waiting for one if needed."""
        while not self._entries:
            self._ready.clear()
            await self._ready.wait()
        return self._take()

    def clear(self) -> list[Any]:
        """Take every queued entry out at once (cancel), in order."""
        taken = []
        while self._entries:
            taken.append(self._take())
        return taken

    def _take(self) -> Any:
        entry, size, audio_ms = self._entries.popleft()
        self._bytes -= size
        self._audio_ms -= audio_ms
        if self._on_size is not None and size:
            self._on_size(-size)
        if not self.full():
            self._room.set()
        return entry
