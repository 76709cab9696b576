"""The sentences of a spoken answer that wait for synthesis, bounded in characters.

Without a bound the producer split the whole upstream answer into sentences as fast
as the LLM sent it, however far synthesis was behind: with an endless fast upstream
each spoken answer read its whole 2 MiB outbox of text at once, and 20 such answers
split 800,000 sentences on the event loop (``/healthz`` stalled 3 s). Bounded, the
producer waits for synthesis, so it reads the upstream at the pace of speech.
"""

from __future__ import annotations

import asyncio
from collections import deque

from server.speech.sentences import Segment

BACKLOG_CHARS = 1024
"""Characters of sentences waiting (about a minute of speech); one sentence always fits."""


class SentenceBacklog:
    """A FIFO of segments whose producer waits while it holds ``max_chars`` or more."""

    def __init__(self, max_chars: int = BACKLOG_CHARS) -> None:
        self.max_chars = max_chars
        self._segments: deque[Segment | None] = deque()
        self._chars = 0
        self._closed = False
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    @property
    def chars(self) -> int:
        """Characters waiting."""
        return self._chars

    async def put(self, segment: Segment) -> None:
        """Queue a segment once the ones waiting are under the bound (dropped once closed)."""
        while self._chars >= self.max_chars and not self._closed:
            self._room.clear()
            await self._room.wait()
        if not self._closed:
            self._add(segment, len(segment.text))

    def end(self) -> None:
        """Mark the end of the answer's sentences (never waits)."""
        self._add(None, 0)

    async def get(self) -> Segment | None:
        """The oldest segment, or None at the end."""
        while not self._segments:
            self._ready.clear()
            await self._ready.wait()
        segment = self._segments.popleft()
        if segment is not None:
            self._chars -= len(segment.text)
        if self._chars < self.max_chars:
            self._room.set()
        return segment

    def close(self) -> None:
        """Synthesis is over (e.g. the engine failed): forget what waits, never wait again."""
        self._closed = True
        self._segments.clear()
        self._chars = 0
        self._room.set()

    def _add(self, segment: Segment | None, size: int) -> None:
        self._segments.append(segment)
        self._chars += size
        self._ready.set()
