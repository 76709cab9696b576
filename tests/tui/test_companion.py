"""The companion server the app starts by itself: up, healthy, stopped, restarted."""

from __future__ import annotations

import pytest

from tests.helpers.player import FakePlayer
from tests.helpers.waiting import wait_for
from tui.app import make_app
from tui.config import Settings
from tui.errors import CompanionError
from tui.link.companion import Companion, CompanionEndpoint, http_status
from tui.link.websocket import Connection

# No LLM found or loaded: these tests are about the process, not the answers.
NO_LLM = {"probe_local": "false", "local_llm": "false"}


async def test_companion_starts_answers_healthz_and_stops() -> None:
    companion = await Companion.start(extra_env={"tts": "none", **NO_LLM})
    try:
        assert companion.url.startswith("ws://127.0.0.1:")
        health = companion.url.replace("ws://", "http://").replace("/v1/realtime", "/healthz")
        assert await http_status(health) == 200
    finally:
        await companion.stop()
    assert not companion.alive
    assert await http_status(health) is None


async def test_companion_failure_is_reported_in_plain_words() -> None:
    with pytest.raises(CompanionError, match=r"exited \(code 2\)"):
        await Companion.start(extra_env={"tts": "no-such-engine", **NO_LLM})


async def test_a_companion_that_dies_is_started_again() -> None:
    settings = Settings(companion={"tts": "none", **NO_LLM}, reconnect_max_delay=0.5)
    app = make_app(settings, player=FakePlayer())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected", timeout=20)
        link = app.link
        assert isinstance(link, Connection)  # no --server: the companion's WebSocket link
        endpoint = link.endpoint
        assert isinstance(endpoint, CompanionEndpoint)
        first = endpoint.companion
        assert first is not None
        first.process.kill()
        await wait_for(pilot, lambda: app.link_state == "reconnecting")
        await wait_for(pilot, lambda: app.link_state == "connected", timeout=20)
        second = endpoint.companion
        assert second is not None and second is not first and second.alive
    assert not second.alive  # quitting stopped it
