"""The replay buffer: recent frames of a session, by sequence number, for resuming."""

from __future__ import annotations

from collections import deque

from server.errors import ResumeRefused


class ReplayBuffer:
    """Keeps the newest frames up to ``max_bytes``; the oldest fall off first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._frames: deque[tuple[int, str | bytes]] = deque()
        self._bytes = 0
        self.last_seq = 0

    def append(self, seq: int, frame: str | bytes) -> None:
        """Remember one sent (or to-be-sent) frame."""
        self._frames.append((seq, frame))
        self._bytes += len(frame)
        self.last_seq = seq
        while self._bytes > self.max_bytes and len(self._frames) > 1:
            _, dropped = self._frames.popleft()
            self._bytes -= len(dropped)

    def since(self, last_seen: int) -> list[str | bytes]:
        """Every frame after ``last_seen``, in order; ResumeRefused if some are gone."""
        if last_seen < 0 or last_seen > self.last_seq:
            raise ResumeRefused(
                "resume_invalid_seq",
                f"Cannot resume after event {last_seen}: the session has only sent "
                f"{self.last_seq} events.",
            )
        oldest = self._frames[0][0] if self._frames else self.last_seq + 1
        if last_seen + 1 < oldest:
            raise ResumeRefused(
                "resume_too_late",
                f"Cannot resume after event {last_seen}: the server kept events from "
                f"{oldest} on only (replay buffer full).",
            )
        return [frame for seq, frame in self._frames if seq > last_seen]
