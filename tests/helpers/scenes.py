"""Scenes of the app shared by the snapshot tests and scripts/screenshots.py.

Each drives a real app on a scripted link (no server, no network) into a state a
person would recognise, so the README shows exactly what the tests check.
"""

from __future__ import annotations

from typing import Any

from tests.helpers.player import FakePlayer
from tests.helpers.waiting import wait_for
from tui.app import Talkterm
from tui.link.websocket import Connection
from tui.widgets.prompt_box import PromptBox

SIZE = (100, 30)
ANSWER = [
    "To make **tea**, boil fresh water. ",
    "Warm the pot, then add one spoon of leaves per cup.\n\n",
    "- Steep for *four* minutes.\n",
    "- Pour, and add milk if you like.",
]


async def connected(app: Talkterm, pilot: Any) -> None:
    """Connected, audio open, nothing asked yet."""
    await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)


async def streaming(app: Talkterm, player: FakePlayer, pilot: Any) -> None:
    """An answer half spoken: the second sentence is being heard."""
    await connected(app, pilot)
    app.query_one(PromptBox).text = "How do I make tea?"
    await pilot.press("enter")
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
    answer = app.answer
    assert answer is not None
    await wait_for(pilot, lambda: answer.turn.highlighted, what="highlight")
    await pilot.pause(0.2)


async def paused(app: Talkterm, player: FakePlayer, pilot: Any) -> None:
    """The same answer, paused at the second sentence."""
    await streaming(app, player, pilot)
    await pilot.press("ctrl+o")
    await wait_for(pilot, lambda: app.state == "paused", what="paused")
