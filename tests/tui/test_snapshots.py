"""Screenshots of the four screens a person sees most: idle, streaming, paused, error.

State is injected through a scripted link and a player whose clock stands still,
so nothing on screen depends on timing, ports or random ids.
"""

from __future__ import annotations

from typing import Any

from tests.helpers.player import FakePlayer
from tests.helpers.scenes import SIZE, connected, paused, streaming
from tests.helpers.tui_app import scripted_app
from tests.helpers.waiting import wait_for
from tui.link.websocket import Connection
from tui.widgets.prompt_box import PromptBox


def test_idle_screen(snap_compare: Any) -> None:
    app = scripted_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=lambda pilot: connected(app, pilot))


def test_streaming_screen(snap_compare: Any) -> None:
    player = FakePlayer(speed=0)
    app = scripted_app(player)
    assert snap_compare(
        app, terminal_size=SIZE, run_before=lambda pilot: streaming(app, player, pilot)
    )


def test_paused_screen(snap_compare: Any) -> None:
    player = FakePlayer(speed=0)
    app = scripted_app(player)

    assert snap_compare(
        app, terminal_size=SIZE, run_before=lambda pilot: paused(app, player, pilot)
    )


def test_error_screen(snap_compare: Any) -> None:
    app = scripted_app()

    async def failed(pilot: Any) -> None:
        await connected(app, pilot)
        app.query_one(PromptBox).text = "Are you there?"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.answer is not None)
        app.post_message(Connection.ResponseStarted("resp_1"))
        message = "The LLM endpoint answered HTTP 500 (server error). Try again in a moment."
        app.post_message(Connection.ServerError("upstream_server_error", message))
        app.post_message(Connection.ResponseFinished("resp_1", "failed"))
        await wait_for(pilot, lambda: app.state == "idle")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=failed)
