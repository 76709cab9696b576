"""Copy: the last answer, the selection, the last code block, to the clipboard (OSC 52)."""

from __future__ import annotations

from typing import Any

from tests.helpers.tui_app import Notices, ScriptedLink, ask, highlighted_command, scripted_app
from tests.helpers.waiting import wait_for
from tui.app import Talkterm
from tui.app.clipboard import code_blocks
from tui.link.websocket import Connection

ANSWER = "Use a loop:\n\n```python\nfor cup in cups:\n    pour(cup)\n```\n\nThen serve.\n"


async def answered(app: Talkterm, pilot: Any, text: str, response_id: str = "resp_1") -> None:
    """Ask, and let a text-only answer arrive and end."""
    await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)
    await ask(pilot, app, "How?")
    await wait_for(pilot, lambda: app.answer is not None, what="asked")
    app.post_message(Connection.ResponseStarted(response_id))
    app.post_message(Connection.TextArrived(response_id, text))
    app.post_message(Connection.ResponseFinished(response_id, "completed"))
    await wait_for(pilot, lambda: app.state == "idle", what="answered")


async def test_the_copy_key_puts_the_last_answer_on_the_clipboard() -> None:
    app = scripted_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await answered(app, pilot, "An older answer.", "resp_1")
        await answered(app, pilot, ANSWER, "resp_2")
        await pilot.press("f2")
        assert app.clipboard == ANSWER


async def test_the_palette_copies_the_last_code_block() -> None:
    app = scripted_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await answered(app, pilot, ANSWER, "resp_1")
        await answered(app, pilot, "No code in this one.", "resp_2")
        await pilot.press("ctrl+p", *"copy last code")
        found = "Copy last code block"
        await wait_for(pilot, lambda: highlighted_command(app) == found, what="command found")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.clipboard != "", what="copied")
        assert app.clipboard == "for cup in cups:\n    pour(cup)\n"
        assert isinstance(app.link, ScriptedLink)


async def test_nothing_to_copy_leaves_the_clipboard_alone() -> None:
    app = scripted_app()
    notices = Notices()
    async with app.run_test(size=(100, 30), notifications=True, message_hook=notices) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await pilot.press("f2")
        await wait_for(pilot, lambda: notices.saying("Nothing to copy yet"), what="told")
        await app.run_action("copy_code")
        await wait_for(pilot, lambda: notices.saying("No answer has a code block"), what="told")
        assert app.clipboard == ""


def test_code_blocks_are_found_fenced_or_indented() -> None:
    text = "Intro\n\n~~~sh\nls -l\n~~~\n\n    indented()\n\nNot `inline` code.\n"
    assert code_blocks(text) == ["ls -l\n", "indented()\n"]
    assert code_blocks("no code here") == []
