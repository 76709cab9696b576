"""Link events that come while the app closes (status line and transcript gone) crash nothing."""

from __future__ import annotations

from tests.helpers.player import FakePlayer
from tests.helpers.tui_app import ask, scripted_app
from tests.helpers.waiting import wait_for
from tui.link.websocket import Connection
from tui.widgets.status_line import StatusLine
from tui.widgets.transcript import TranscriptView


async def test_answer_and_link_events_after_the_status_line_is_gone() -> None:
    app = scripted_app(player=FakePlayer(speed=1.0))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
        await ask(pilot, app, "Tea?")
        await wait_for(pilot, lambda: app.answer is not None, what="an answer")
        app.post_message(Connection.ResponseStarted("resp_1"))
        app.post_message(Connection.TextArrived("resp_1", "Tea is "))
        await wait_for(pilot, lambda: "Tea is" in app.answer.turn.text if app.answer else False)
        # As on quit: the screen's widgets go first, the link's last events still come.
        await app.query_one(StatusLine).remove()
        app.post_message(Connection.TextArrived("resp_1", "ready."))
        app.post_message(Connection.AudioArrived("resp_1", bytes(4800)))
        app.post_message(Connection.ResponseFinished("resp_1", "completed"))
        app.post_message(Connection.Lost("the server went away", 1.0))
        await wait_for(pilot, lambda: app.answer is None, what="the answer ended")
        await app.query_one(TranscriptView).remove()
        # A link that comes back (or a spoken turn the server took) as the app closes.
        app.post_message(Connection.Connected("ws://127.0.0.1:1/v1/realtime"))
        app.post_message(Connection.SessionStarted("fake-llm", "espeak-ng", demo=True))
        app.post_message(Connection.InputCommitted("item_1"))
        await wait_for(pilot, lambda: app.link_state == "connected", what="reconnected")
        await wait_for(pilot, lambda: app._committed == "item_1", what="the turn taken")
        assert app.is_running
