"""An idle app does nothing on a timer: the prompt's cursor stops blinking once nobody types."""

from __future__ import annotations

import pytest

from tests.helpers.tui_app import scripted_app
from tests.helpers.waiting import wait_for
from tui.widgets.prompt_box import PromptBox


async def test_the_cursor_stops_blinking_when_nobody_types_and_blinks_again_on_a_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Long enough that a loaded machine still sees it blink right after a key.
    monkeypatch.setattr(PromptBox, "BLINK_FOR_S", 2.0)
    app = scripted_app(snapshot_mode=False)
    async with app.run_test() as pilot:
        prompt = app.query_one(PromptBox)
        await pilot.press("h")
        assert prompt.cursor_blink
        await wait_for(pilot, lambda: not prompt.cursor_blink, what="the cursor at rest")
        await pilot.press("i")
        assert prompt.cursor_blink
        assert prompt.text == "hi"


async def test_a_cursor_that_never_blinks_stays_still() -> None:
    app = scripted_app()  # snapshot mode: screenshots must not depend on the moment
    async with app.run_test() as pilot:
        prompt = app.query_one(PromptBox)
        await pilot.press("h", "i")
        assert not prompt.cursor_blink
