"""A worker's SIGTERM: take no new sessions, let answers in flight finish, then stop.

While draining, ``/healthz`` answers 404 (with ``http-check disable-on-404`` HAProxy stops
sending it new sessions within a second, yet keeps its connections and routes its resumes
to it) and a new session or HTTP answer is refused with 503,
which HAProxy retries on another worker (``retry-on 503``). A resume of a session this
worker holds is still let in: its answer may be the one that is finishing.
"""

from __future__ import annotations

import asyncio
import logging

from server.session.session import Services

log = logging.getLogger("talkterm.server")

POLL_S = 0.05


def answers_in_flight(services: Services) -> int:
    """Responses still generating (connected or waiting for a resume) and HTTP answers."""
    running = sum(1 for s in services.sessions.values() if s.response is not None)
    return running + services.http_answers


async def drain(services: Services, grace: float) -> int:
    """Stop taking work and wait up to ``grace`` s for answers in flight; how many were cut."""
    services.draining = True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    waiting = answers_in_flight(services)
    log.info("draining: %d answers in flight, up to %g s", waiting, grace)
    # Polled: answers end in many places (sessions, HTTP runs), and 20 checks a second
    # during a shutdown cost nothing beside them.
    while (left := answers_in_flight(services)) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(POLL_S)
    if left:
        log.warning("drain grace of %g s over: %d answers cut", grace, left)
    return left
