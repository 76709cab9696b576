"""What one HTTP answer holds for its client, counted in the server's memory budget.

Each answer is bounded on its own (its outbox, server/session/outbox.py), but a thousand
answers whose clients read slowly or not at all held a thousand outboxes. They count in
the budget the WebSocket sessions' replay buffers share (``replay_budget_bytes``): past
it, after the replay frames that can go, the answer holding the most is ended with a
503-worded error (``memory_budget``), and every other answer carries on.
"""

from __future__ import annotations

from collections.abc import Callable

from server.http.errors import Busy
from server.session.replay import ReplayBudget


class OverBudget(Busy):
    """An answer ended because the server's memory for answers was full and it held most."""

    def __init__(self, held: int) -> None:
        super().__init__(
            "The server's memory for answers in progress is full, and this answer held the "
            f"most that its client had not read yet ({held / (1 << 20):.1f} MiB); it was "
            "ended there. Read answers as they come, or try again shortly.",
            code="memory_budget",
        )


class HeldBytes:
    """One answer's account in the budget: grown and shrunk as it queues and delivers."""

    def __init__(self, budget: ReplayBudget, on_drop: Callable[[OverBudget], None]) -> None:
        self.held = 0
        self._budget = budget
        self._on_drop = on_drop
        self._counted = True
        budget.hold(self)

    def grow(self, size: int) -> None:
        """Count ``size`` more bytes held (fewer when negative); past the budget, the
        answers holding the most are ended, perhaps this one."""
        self.held += size
        if self._counted:
            self._budget.used += size
            if size > 0:
                self._budget.enforce()

    def drop(self) -> None:
        """The budget ends this answer: out of the budget first, then told why."""
        held = self.held
        self.release()
        self._on_drop(OverBudget(held))

    def release(self) -> None:
        """Leave the budget (the answer ended)."""
        if self._counted:
            self._counted = False
            self._budget.unhold(self)
