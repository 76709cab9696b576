"""Checking that work grows linearly with its input, robustly on a busy machine."""

from __future__ import annotations

import time
from collections.abc import Callable

# 8× the input: linear work takes ≈ 8× the time, quadratic work ≈ 64×.
GROWTH = 8
ALLOWED = 24


def best_time(run: Callable[[int], object], size: int, repeats: int = 3) -> float:
    """The fastest of ``repeats`` runs of ``run(size)``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run(size)
        best = min(best, time.perf_counter() - start)
    return best


def assert_linear(run: Callable[[int], object], small: int) -> None:
    """``run(8 × small)`` must take well under the 64× a quadratic algorithm needs."""
    short = max(best_time(run, small), 1e-3)
    long = best_time(run, small * GROWTH, repeats=2)
    assert long < ALLOWED * short, (
        f"{small * GROWTH} took {long:.3f} s, {long / short:.0f}× the {short:.4f} s of {small}"
    )
