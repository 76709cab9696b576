"""f4 to talk, seen from the app: the microphone, what is sent, and the turns the server heard."""

from __future__ import annotations

import base64
import sys
import threading
from typing import Any

import pytest

from tests.helpers.mic import FakeMic
from tests.helpers.player import FakePlayer
from tests.helpers.tui_app import Notices, ScriptedLink
from tests.helpers.waiting import stays, wait_for
from tui.app import Talkterm, make_app
from tui.app import listening as listening_part
from tui.config import Settings
from tui.link.websocket import Connection
from tui.widgets.status_line import StatusLine
from tui.widgets.transcript import UserTurn

SPEECH = b"\x10\x27" * 2400  # 100 ms of a loud, flat "voice"


def talking_app(mic: FakeMic, *, listens: bool = True, **settings: Any) -> Talkterm:
    """An app on a scripted link whose session can (or cannot) listen."""
    return make_app(
        Settings(server="ws://scripted/v1/realtime", snapshot_mode=True, **settings),
        player=FakePlayer(speed=0),
        link_factory=lambda app: ScriptedLink(app, listens=listens),
        mic=mic,
    )


def not_caught(app: Talkterm) -> bool:
    """Whether a user turn on screen says it was not understood."""
    return any("didn't catch" in str(turn.render()) for turn in app.query(UserTurn))


def link_of(app: Talkterm) -> ScriptedLink:
    assert isinstance(app.link, ScriptedLink)
    return app.link


def appended(link: ScriptedLink) -> bytes:
    """All audio the app appended to the input buffer, decoded."""
    return b"".join(
        base64.b64decode(e["audio"]) for e in link.sent if e["type"] == "input_audio_buffer.append"
    )


async def start_listening(app: Talkterm, pilot: Any) -> ScriptedLink:
    await wait_for(pilot, lambda: app.link_state == "connected" and app.can_listen)
    await pilot.press("f4")
    await wait_for(pilot, lambda: app.state == "listening", what="listening")
    return link_of(app)


async def test_f4_listens_sends_the_voice_and_answers_the_words() -> None:
    mic = FakeMic()
    app = talking_app(mic)
    async with app.run_test(size=(100, 24)) as pilot:
        link = await start_listening(app, pilot)
        assert mic.is_open
        vad = [e for e in link.sent if "input" in e.get("session", {}).get("audio", {})][-1]
        detection = vad["session"]["audio"]["input"]["turn_detection"]
        assert detection["type"] == "server_vad" and detection["create_response"] is False
        mic.say(SPEECH)
        await wait_for(pilot, lambda: SPEECH in appended(link), what="the voice sent")
        assert app.query_one(StatusLine).listening.startswith("🎤 0:0")
        # The server's VAD heard the pause and committed the turn; its words follow.
        app.post_message(Connection.SpeechStarted("item_u1"))
        app.post_message(Connection.InputCommitted("item_u1"))
        await wait_for(pilot, lambda: not mic.is_open, what="microphone closed")
        await wait_for(pilot, lambda: app.query(UserTurn), what="the turn shown")
        assert "response.create" not in link.types()  # nothing is asked before the words
        app.post_message(Connection.Heard("item_u1", " What time is it? "))
        await wait_for(pilot, lambda: "response.create" in link.types(), what="answer asked")
        assert app.query(UserTurn).last().prompt == "What time is it?"
        assert app.history[-1] == ("user", "What time is it?")
        assert app.state == "streaming"
        # The spoken turn is already in the server's conversation: no text item is sent.
        assert "conversation.item.create" not in link.types()


async def test_f4_or_enter_sends_at_once_and_esc_throws_the_turn_away() -> None:
    mic = FakeMic()
    app = talking_app(mic)
    async with app.run_test(size=(100, 24)) as pilot:
        link = await start_listening(app, pilot)
        await pilot.press("f4")
        await wait_for(pilot, lambda: "input_audio_buffer.commit" in link.types())
        assert not mic.is_open

        app.post_message(Connection.InputCommitted("item_u1"))
        app.post_message(Connection.NotHeard("item_u1", "no_speech", "No speech was heard."))
        await wait_for(pilot, lambda: not_caught(app), what="didn't catch that")
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.state == "listening", what="listening again")
        await pilot.press("enter")
        await wait_for(pilot, lambda: link.types().count("input_audio_buffer.commit") == 2)

        await pilot.press("f4")
        await wait_for(pilot, lambda: app.state == "listening", what="listening a third time")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.state == "idle", what="cancelled")
        assert link.types()[-1] == "input_audio_buffer.clear" and not mic.is_open
        # A turn that was not heard, or was cancelled, asks nothing.
        await stays(pilot, lambda: "response.create" not in link.types(), 0.3)


async def test_no_microphone_or_no_recognizer_is_one_plain_line_and_typing_works() -> None:
    notices = Notices()
    mic = FakeMic(unavailable="No microphone could be opened (no input device).")
    app = talking_app(mic)
    async with app.run_test(size=(100, 24), message_hook=notices) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.can_listen)
        await pilot.press("f4")
        await wait_for(pilot, lambda: notices.saying("Typing still works"), what="told")
        assert app.state == "idle"
        await pilot.press(*"hi", "enter")
        await wait_for(pilot, lambda: "response.create" in link_of(app).types(), what="typed")

    deaf = talking_app(FakeMic(), listens=False)
    async with deaf.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: deaf.link_state == "connected")
        assert deaf.check_action("talk", ()) is None  # dimmed in the footer
        await pilot.press("f4")
        await stays(pilot, lambda: deaf.state == "idle", 0.3)


async def test_a_muted_microphone_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listening_part, "MUTED_AFTER_S", 0.3)
    notices = Notices()
    app = talking_app(FakeMic(silent=True))
    async with app.run_test(size=(100, 24), message_hook=notices) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.can_listen)
        await pilot.press("f4")
        await wait_for(pilot, lambda: notices.saying("muted"), what="muted named")
        link = link_of(app)
        assert app.state == "idle" and link.types()[-1] == "input_audio_buffer.clear"


async def test_f4_during_an_answer_stops_it_then_listens() -> None:
    mic = FakeMic()
    app = talking_app(mic)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.can_listen)
        await pilot.press(*"tell me a story", "enter")
        await wait_for(pilot, lambda: app.answer is not None, what="answer started")
        app.post_message(Connection.ResponseStarted("resp_1"))
        app.post_message(Connection.TextArrived("resp_1", "Once upon a time"))
        await wait_for(pilot, lambda: app.answer and app.answer.response_id == "resp_1")
        await pilot.press("f4")
        link = link_of(app)
        await wait_for(pilot, lambda: "response.cancel" in link.types(), what="cancelled")
        app.post_message(Connection.ResponseFinished("resp_1", "cancelled"))
        await wait_for(pilot, lambda: app.state == "listening", what="then listening")
        assert mic.is_open


class GatedMic(FakeMic):
    """A microphone whose opens wait for the test (a slow device)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.opening = threading.Event(), 0

    def open(self) -> None:
        self.opening += 1
        self.gate.wait(10)
        super().open()


async def test_two_overlapping_opens_listen_once() -> None:
    """Hands-free's open after an answer and another (over a typed question) at once."""
    mic = GatedMic()
    app = talking_app(mic)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.can_listen)
        link = link_of(app)
        app.listen()
        await wait_for(pilot, lambda: mic.opening == 1, what="the first open under way")
        app.listen()  # before the first open is through: a second worker opens too
        await wait_for(pilot, lambda: mic.opening == 2, what="the second open under way")
        mic.gate.set()
        await wait_for(pilot, lambda: mic.opened == 2 and app.state == "listening")
        told = lambda: [e for e in link.sent if "input" in e.get("session", {}).get("audio", {})]  # noqa: E731
        # Still recording (the second open closes nothing), and the server told once.
        await stays(pilot, lambda: mic.is_open and len(told()) == 1, 0.3)
        mic.say(SPEECH)
        await wait_for(pilot, lambda: SPEECH in appended(link), what="the voice sent")
        assert appended(link).count(SPEECH) == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.state == "idle" and not mic.is_open, what="closed")


async def test_hands_free_listens_again_after_each_answer() -> None:
    mic = FakeMic()
    app = talking_app(mic, hands_free=True, text_only=True)
    async with app.run_test(size=(100, 24)) as pilot:
        link = await start_listening(app, pilot)
        app.post_message(Connection.InputCommitted("item_u1"))
        app.post_message(Connection.Heard("item_u1", "Hello."))
        await wait_for(pilot, lambda: app.state == "streaming", what="answering")
        assert not mic.is_open  # half-duplex: closed while the answer plays
        app.post_message(Connection.ResponseStarted("resp_1"))
        app.post_message(Connection.TextArrived("resp_1", "Hi there."))
        app.post_message(Connection.ResponseFinished("resp_1", "completed"))
        await wait_for(pilot, lambda: app.state == "listening", what="listening again")
        assert mic.opened == 2 and link.types().count("response.create") == 1


async def test_echo_cancellation_without_its_package_is_one_plain_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "livekit", None)  # not installed
    mic, notices = FakeMic(), Notices()
    app = talking_app(mic, hands_free=True, echo_cancellation=True)
    async with app.run_test(size=(100, 30), message_hook=notices) as pilot:
        await start_listening(app, pilot)  # listening still works, half-duplex
        await wait_for(pilot, lambda: notices.saying("needs the livekit package"))
        assert notices.saying("install the echo extra")
        assert app.echo is None and not app.barge_in
        # A whole turn and its answer: the microphone stays closed while it plays (nothing
        # would cancel the echo), hands-free opens it after, and the warning is not repeated.
        app.post_message(Connection.InputCommitted("item_u1"))
        app.post_message(Connection.Heard("item_u1", "Hello."))
        await wait_for(pilot, lambda: app.state == "streaming", what="answering")
        app.post_message(Connection.ResponseStarted("resp_1"))
        app.post_message(Connection.TextArrived("resp_1", "Hi there."))
        await stays(pilot, lambda: mic.opened == 1 and not mic.is_open, 0.5)
        app.post_message(Connection.ResponseFinished("resp_1", "completed"))
        await wait_for(pilot, lambda: app.state == "listening", what="listening again")
        assert mic.opened == 2
        await stays(pilot, lambda: len([m for m in notices.messages if "livekit" in m]) == 1, 0.3)
