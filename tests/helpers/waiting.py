"""Poll instead of sleeping: wait until something holds, or check that something keeps holding.

Both take a Textual ``Pilot`` (the app runs while we poll) or ``None`` in plain asyncio tests.
A negative check ("X never happens") is ``stays(lambda: not X, ...)``: it fails the moment X
happens, with a bounded window in which it must not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

STEP = 0.02


async def _step(pilot: Pilot[Any] | None) -> None:
    if pilot is None:
        await asyncio.sleep(STEP)
    else:
        await pilot.pause(STEP)


async def wait_for(
    pilot: Pilot[Any] | None,
    condition: Callable[[], object],
    timeout: float = 10.0,
    what: str = "",
) -> None:
    """Let the app (or the event loop) run until ``condition()`` holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await _step(pilot)


async def stays(
    pilot: Pilot[Any] | None, condition: Callable[[], object], for_s: float, what: str = ""
) -> None:
    """Check ``condition()`` over ``for_s`` seconds; fail the moment it does not hold."""
    deadline = time.monotonic() + for_s
    while True:
        if not condition():
            raise AssertionError(f"no longer true: {what or condition}")
        if time.monotonic() > deadline:
            return
        await _step(pilot)


def holds(condition: Callable[[], object], for_s: float, what: str = "") -> None:
    """``stays`` for code off the event loop (the audio player's tests): blocks while it checks."""
    deadline = time.monotonic() + for_s
    while True:
        if not condition():
            raise AssertionError(f"no longer true: {what or condition}")
        if time.monotonic() > deadline:
            return
        time.sleep(STEP)


def until(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """``wait_for`` for code off the event loop: blocks until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(STEP)
