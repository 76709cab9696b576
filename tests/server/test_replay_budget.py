"""The replay memory of all sessions together is bounded; absent clients give way first."""

from __future__ import annotations

import pytest

from server.errors import ResumeRefused
from server.session.replay import ReplayBudget, ReplayBuffer


def test_over_budget_the_oldest_frames_of_detached_sessions_go_first() -> None:
    budget = ReplayBudget(10_000)
    away, here = ReplayBuffer(8_000, budget), ReplayBuffer(8_000, budget)
    away.detached = True
    for seq in range(1, 5):
        away.append(seq, b"a" * 1000)
    for seq in range(1, 9):
        here.append(seq, b"h" * 1000)  # 12 KB in all: over the budget
    assert budget.used <= 10_000
    assert here.since(0)  # the connected session lost nothing
    with pytest.raises(ResumeRefused) as refused:
        away.since(0)
    assert refused.value.code == "resume_too_late"


def test_an_ended_session_frees_its_share() -> None:
    budget = ReplayBudget(1 << 20)
    buffer = ReplayBuffer(1 << 20, budget)
    buffer.append(1, b"x" * 5000)
    buffer.release()
    assert budget.used == 0
