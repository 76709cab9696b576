"""Screenshots of the four screens a person sees most: idle, streaming, paused, error.

State is injected through a scripted link and a player whose clock stands still,
so nothing on screen depends on timing, ports or random ids.
"""

from __future__ import annotations

from typing import Any

from tests.helpers.player import FakePlayer
from tests.helpers.tui_app import scripted_app
from tests.helpers.waiting import wait_for
from tui.app import Talkterm
from tui.connection import Connection
from tui.widgets.prompt_box import PromptBox

SIZE = (100, 30)
ANSWER = [
    "To make **tea**, boil fresh water. ",
    "Warm the pot, then add one spoon of leaves per cup.\n\n",
    "- Steep for *four* minutes.\n",
    "- Pour, and add milk if you like.",
]


async def connected(app: Talkterm, pilot: Any) -> None:
    await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)


async def streaming(app: Talkterm, player: FakePlayer, pilot: Any) -> None:
    """An answer half spoken: the second sentence is being heard."""
    await connected(app, pilot)
    app.query_one(PromptBox).text = "How do I make tea?"
    await pilot.press("ctrl+j")
    await wait_for(pilot, lambda: app.answer is not None)
    app.post_message(Connection.ResponseStarted("resp_1"))
    app.post_message(Connection.ItemStarted("resp_1", "item_1"))
    for chunk in ANSWER:
        app.post_message(Connection.TextArrived("resp_1", chunk))
    app.post_message(Connection.SegmentAnnounced("resp_1", 0, 0, 35, 0.0, "audio/pcm"))
    app.post_message(Connection.AudioArrived("resp_1", bytes(48_000 * 2)))
    app.post_message(Connection.SegmentAnnounced("resp_1", 1, 35, 87, 1000.0, "audio/pcm"))
    await wait_for(pilot, lambda: app.answer and app.answer.audio_seen)
    player.position = 1200.0
    status = app.status
    status.first_text_ms, status.first_audio_ms = 412.0, 655.0
    await wait_for(pilot, lambda: app.answer.turn.highlighted, what="highlight")
    await pilot.pause(0.2)


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

    async def paused(pilot: Any) -> None:
        await streaming(app, player, pilot)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: app.state == "paused", what="paused")

    assert snap_compare(app, terminal_size=SIZE, run_before=paused)


def test_error_screen(snap_compare: Any) -> None:
    app = scripted_app()

    async def failed(pilot: Any) -> None:
        await connected(app, pilot)
        app.query_one(PromptBox).text = "Are you there?"
        await pilot.press("ctrl+j")
        await wait_for(pilot, lambda: app.answer is not None)
        app.post_message(Connection.ResponseStarted("resp_1"))
        message = "The LLM endpoint answered HTTP 500 (server error). Try again in a moment."
        app.post_message(Connection.ServerError("upstream_server_error", message))
        app.post_message(Connection.ResponseFinished("resp_1", "failed"))
        await wait_for(pilot, lambda: app.state == "idle")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=failed)
