"""The app's states reach the status line whenever they change, even before it exists."""

from __future__ import annotations

from tests.helpers.tui_app import scripted_app
from tests.helpers.waiting import wait_for
from tui.states import LinkState, ResponseState


async def test_a_state_set_before_the_screen_exists_is_shown_once_it_does() -> None:
    app = scripted_app()
    # Nothing is mounted yet: showing the state must wait for the status line, not fail.
    app.state = ResponseState.PAUSED
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == LinkState.CONNECTED)
        assert app.status.state == ResponseState.PAUSED
        assert " paused" in str(app.status.render())
        app.state = ResponseState.IDLE
        await wait_for(pilot, lambda: " idle" in str(app.status.render()), what="idle shown")
