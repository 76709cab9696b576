"""Informational server notices are shown, and fail nothing."""

from __future__ import annotations

import pytest
from textual.message import Message

from server import protocol as p
from tests.helpers.tui_app import Notices, ask, scripted_app
from tests.helpers.waiting import wait_for
from tui.link.server_events import translate
from tui.link.websocket import Connection

NOTICES = [
    # An older server sent its notices as an error event of type info; both read alike.
    (
        Connection.ServerError(
            "context_trimmed",
            "The 4 earliest messages are left out of what the model reads from now on.",
        ),
        "earliest messages are left out",
    ),
    (
        Connection.NoticeArrived(
            "context_full",
            "The context is full: the model cannot take in more of this conversation.",
        ),
        "context is full",
    ),
]


@pytest.mark.parametrize(("message", "shown"), NOTICES, ids=["as an error", "as a notice"])
async def test_a_notice_is_shown_without_failing_the_answer(message: Message, shown: str) -> None:
    app = scripted_app()
    notices = Notices()
    async with app.run_test(size=(120, 24), notifications=True, message_hook=notices) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await ask(pilot, app, "And then?")
        await wait_for(pilot, lambda: app.answer is not None)
        app.post_message(Connection.ResponseStarted("resp_1"))
        app.post_message(message)
        await wait_for(pilot, lambda: notices.saying(shown))
        assert app.answer is not None and not app.answer.error
        assert shown not in app.status.error


def test_a_notice_frame_becomes_a_notice_not_an_error() -> None:
    frame = p.encode(p.notice_event("context_trimmed", "Early turns were left out.", "resp_1"))
    message, _ = translate(frame)
    assert isinstance(message, Connection.NoticeArrived)
    assert message.code == "context_trimmed" and message.message == "Early turns were left out."
