"""Informational server notices are shown, and fail nothing."""

from __future__ import annotations

from server import protocol as p
from tests.helpers.tui_app import Notices, ask, scripted_app
from tests.helpers.waiting import wait_for
from tui.link.server_events import translate
from tui.link.websocket import Connection


async def test_a_context_notice_is_shown_without_failing_the_answer() -> None:
    app = scripted_app()
    notices = Notices()
    async with app.run_test(size=(120, 24), notifications=True, message_hook=notices) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await ask(pilot, app, "And then?")
        await wait_for(pilot, lambda: app.answer is not None)
        app.post_message(Connection.ResponseStarted("resp_1"))
        said = "The 4 earliest messages are left out of what the model reads from now on."
        app.post_message(Connection.ServerError("context_trimmed", said))
        await wait_for(pilot, lambda: notices.saying("earliest messages are left out"))
        assert app.answer is not None and not app.answer.error
        assert app.status.error != said


async def test_a_notice_event_is_shown_without_failing_the_answer() -> None:
    app = scripted_app()
    notices = Notices()
    async with app.run_test(size=(120, 24), notifications=True, message_hook=notices) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await ask(pilot, app, "And then?")
        await wait_for(pilot, lambda: app.answer is not None)
        app.post_message(Connection.ResponseStarted("resp_1"))
        said = "The context is full: the model cannot take in more of this conversation."
        app.post_message(Connection.NoticeArrived("context_full", said))
        await wait_for(pilot, lambda: notices.saying("context is full"))
        assert app.answer is not None and not app.answer.error
        assert app.status.error != said


def test_a_notice_frame_becomes_a_notice_not_an_error() -> None:
    frame = p.encode(p.notice_event("context_trimmed", "Early turns were left out.", "resp_1"))
    message, _ = translate(frame)
    assert isinstance(message, Connection.NoticeArrived)
    assert message.code == "context_trimmed" and message.message == "Early turns were left out."
