"""Context probes that never hold an answer back.

One probe per model however many sessions ask, run in the background under the
discovery deadline (``server.llm.discovery``). An answer waits for it at most
``WAIT_S``; until the probe has answered, the context fitting uses the budget it
already has (the configured window, or none), and learns the stated window the
next time it asks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Final

WAIT_S: Final = 0.3
"""How long an answer waits for a probe still running (target: < 0.5 s later)."""

Probe = Callable[[str], Awaitable[int | None]]


class WindowProbes:
    """The context window of each model, probed once, in the background."""

    def __init__(self, probe: Probe, wait_s: float = WAIT_S) -> None:
        self._probe = probe
        self._wait_s = wait_s
        self._tasks: dict[str, asyncio.Task[int | None]] = {}

    async def window(self, model: str) -> int | None:
        """The stated window, if the probe has answered (waiting ``wait_s`` at most)."""
        task = self._tasks.get(model)
        if task is None:
            task = self._tasks[model] = asyncio.create_task(
                self._run(model), name=f"context probe {model[:60]}"
            )
        if not task.done():
            # Shielded: an answer that stops waiting leaves the probe running for the next.
            await asyncio.wait({asyncio.shield(task)}, timeout=self._wait_s)
        return task.result() if task.done() and not task.cancelled() else None

    async def _run(self, model: str) -> int | None:
        try:
            return await self._probe(model)
        except Exception:  # a probe never fails an answer; discovery says None itself
            return None

    async def aclose(self) -> None:
        """Stop probes still running."""
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
