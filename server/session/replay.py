"""The replay buffer: recent frames of a session, by sequence number, for resuming.

Each buffer has its own bound, and all buffers share one server-wide budget, with what
HTTP answers hold for clients that have not read it (``Holder``). Over the budget, the
oldest frames of sessions with no client go first (nobody may come back for them), then
the oldest frames of connected sessions (their client already has them); a resume that
needs a frame that went is refused with ``resume_too_late``. If the HTTP answers alone
are still over it, the one holding the most is ended (it says why), then the next.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Protocol

from server.errors import ResumeRefused

# Over budget, trim to this share of it, so the sort over all buffers is rare.
_TRIM_TO = 0.9


class Holder(Protocol):
    """Memory the budget cannot trim, only end: what an HTTP answer holds for its client."""

    held: int

    def drop(self) -> None:
        """End the answer now, and leave the budget."""
        ...


class ReplayBudget:
    """The replay memory of all sessions together, and what HTTP answers hold."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self._buffers: set[ReplayBuffer] = set()
        self._holders: set[Holder] = set()
        self._stamps = itertools.count()

    def hold(self, holder: Holder) -> None:
        """Count ``holder`` in the budget."""
        self._holders.add(holder)
        self.used += holder.held

    def unhold(self, holder: Holder) -> None:
        """Stop counting ``holder`` (its answer ended)."""
        if holder in self._holders:
            self._holders.discard(holder)
            self.used -= holder.held

    def join(self, buffer: ReplayBuffer) -> None:
        """Count ``buffer`` in the budget."""
        self._buffers.add(buffer)

    def leave(self, buffer: ReplayBuffer) -> None:
        """Stop counting ``buffer`` (its session ended)."""
        if buffer in self._buffers:
            self._buffers.discard(buffer)
            self.used -= buffer.size

    def stamp(self) -> int:
        """A server-wide order of frames: smaller is older."""
        return next(self._stamps)

    def enforce(self) -> None:
        """Over budget: drop the oldest frames, of detached sessions first; then end the
        HTTP answers holding the most, as few as will do."""
        if self.used <= self.max_bytes:
            return
        target = int(self.max_bytes * _TRIM_TO)
        for detached in (True, False):
            chosen = [b for b in self._buffers if b.detached is detached and b.size]
            for buffer in sorted(chosen, key=lambda b: b.oldest_stamp):
                buffer.drop_oldest(self.used - target)
                if self.used <= target:
                    return
        for holder in sorted(self._holders, key=lambda h: h.held, reverse=True):
            if self.used <= self.max_bytes:
                return
            holder.drop()


class ReplayBuffer:
    """Keeps the newest frames up to ``max_bytes``; the oldest fall off first."""

    def __init__(self, max_bytes: int, budget: ReplayBudget | None = None) -> None:
        self.max_bytes = max_bytes
        self.detached = False
        """Whether no client is connected (its frames are trimmed first)."""
        self._frames: deque[tuple[int, str | bytes, int]] = deque()
        self._bytes = 0
        self._budget = budget if budget is not None else ReplayBudget(1 << 62)
        self._budget.join(self)
        self._counted = True
        self.last_seq = 0

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._bytes

    @property
    def oldest_stamp(self) -> int:
        """The server-wide age of the oldest frame held."""
        return self._frames[0][2] if self._frames else 1 << 62

    def append(self, seq: int, frame: str | bytes) -> None:
        """Remember one sent (or to-be-sent) frame."""
        self._frames.append((seq, frame, self._budget.stamp()))
        self._grow(len(frame))
        self.last_seq = seq
        excess = self._bytes - self.max_bytes
        if excess > 0 and len(self._frames) > 1:
            self.drop_oldest(excess, keep=1)
        if self._counted:
            self._budget.enforce()

    def drop_oldest(self, at_least: int, keep: int = 0) -> None:
        """Forget the oldest frames until ``at_least`` bytes are freed (or ``keep`` are left)."""
        freed = 0
        while freed < at_least and len(self._frames) > keep:
            size = len(self._frames.popleft()[1])
            self._grow(-size)
            freed += size

    def release(self) -> None:
        """Forget everything and leave the budget (the session ended)."""
        self._frames.clear()
        self._budget.leave(self)
        self._counted = False
        self._bytes = 0

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
                f"{oldest} on only (replay memory full).",
            )
        return [frame for seq, frame, _ in self._frames if seq > last_seen]

    def _grow(self, size: int) -> None:
        self._bytes += size
        if self._counted:
            self._budget.used += size
