"""Bindings: what each key sends, when it is dimmed, remapping, the palette, Quit.

These use a scripted link (no network) because they test the UI's own logic;
test_flow.py drives the same keys against the real server.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.command import CommandPalette

from tests.helpers.player import FakePlayer
from tests.helpers.tui_app import Notices, ScriptedLink, ask, highlighted_command, scripted_app
from tests.helpers.waiting import stays, wait_for
from tui.app import Talkterm
from tui.app.commands import applicable_commands
from tui.link.websocket import Connection
from tui.screens.conversations import ConversationsScreen
from tui.widgets.assistant_turn import AssistantTurn
from tui.widgets.prompt_box import PromptBox

KEYS = {"start": "enter", "pause": "ctrl+o", "resume": "ctrl+r", "stop": "ctrl+g"}


def offered(app: Any) -> list[tuple[str, str, str]]:
    """What the palette offers now: (title, help, id) per command."""
    return applicable_commands(app)


def footer_state(app: Talkterm) -> dict[str, bool]:
    """Binding id → enabled, as the footer shows it."""
    return {
        active.binding.id: active.enabled
        for active in app.screen.active_bindings.values()
        if active.binding.id in KEYS
    }


async def start_answer(app: Talkterm, pilot: Any, text: str = "hello") -> ScriptedLink:
    link = app.link
    assert isinstance(link, ScriptedLink)
    await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)
    await ask(pilot, app, text)
    await wait_for(pilot, lambda: app.answer is not None, what="answer started")
    app.post_message(Connection.ResponseStarted("resp_1"))
    app.post_message(Connection.ItemStarted("resp_1", "item_1"))
    app.post_message(Connection.TextArrived("resp_1", "Hello there."))
    await wait_for(pilot, lambda: app.answer and app.answer.item_id == "item_1")
    return link


async def test_prompt_has_focus_and_every_key_is_in_the_footer() -> None:
    app = scripted_app()
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        assert isinstance(app.focused, PromptBox)
        shown = {a.binding.id for a in app.screen.active_bindings.values() if a.binding.show}
        # The less-used keys (f2, ctrl+o, ctrl+r, ctrl+g, ctrl+t) are in the palette only.
        footer = {"start", "stop_escape", "talk", "pause_resume", "new_chat"}
        assert footer | {"conversations", "quit"} <= shown
        active = app.screen.active_bindings.values()
        # Enter and Escape reach the prompt (and a modal screen) first; the rest overtake it.
        assert all(a.binding.priority for a in active if a.binding.id in KEYS.keys() - {"start"})
        assert not any(a.binding.priority for a in active if a.binding.key in ("enter", "escape"))


async def test_keys_are_dimmed_when_they_do_not_apply() -> None:
    app = scripted_app()
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        assert footer_state(app) == {"start": True, "pause": False, "resume": False, "stop": False}
        link = await start_answer(app, pilot)
        assert footer_state(app) == {"start": True, "pause": True, "resume": False, "stop": True}
        await pilot.press("ctrl+o")
        assert footer_state(app) == {"start": True, "pause": False, "resume": True, "stop": True}
        # A dimmed key does nothing at all.
        sent = len(link.sent)
        await pilot.press("ctrl+o")
        assert len(link.sent) == sent and app.state == "paused"


async def test_start_pause_resume_stop_send_the_right_events() -> None:
    player = FakePlayer(speed=0)
    app = scripted_app(player)
    async with app.run_test(size=(120, 24)) as pilot:
        link = await start_answer(app, pilot, "What is tea?")
        assert link.types()[-2:] == ["conversation.item.create", "response.create"]
        assert link.sent[-2]["item"]["content"][0]["text"] == "What is tea?"
        assert link.sent[-1]["response"] == {"output_modalities": ["audio"]}
        app.post_message(Connection.SegmentAnnounced("resp_1", 0, 0, 12, 0.0, "audio/pcm"))
        app.post_message(Connection.AudioArrived("resp_1", b"\0\0" * 4800))
        await wait_for(pilot, lambda: "feed" in player.names())
        player.position = 150.0
        await pilot.press("ctrl+o")
        assert link.sent[-1] == {"type": "response.pause", "response_id": "resp_1"}
        await pilot.press("ctrl+r")
        assert link.sent[-1] == {"type": "response.resume", "response_id": "resp_1"}
        await pilot.press("ctrl+g")
        assert link.sent[-2:] == [
            {"type": "response.cancel", "response_id": "resp_1"},
            {
                "type": "conversation.item.truncate",
                "item_id": "item_1",
                "content_index": 0,
                "audio_end_ms": 150,  # what the player had played, not the 200 ms it was fed
            },
        ]
        assert app.state == "stopping"
        app.post_message(Connection.ResponseFinished("resp_1", "cancelled"))
        await wait_for(pilot, lambda: app.state == "idle")


async def test_stop_in_text_mode_sends_no_truncate() -> None:
    app = scripted_app(text_only=True)
    async with app.run_test(size=(120, 24)) as pilot:
        link = await start_answer(app, pilot)
        assert link.sent[-1]["response"] == {"output_modalities": ["text"]}
        await pilot.press("ctrl+g")
        assert link.types()[-1] == "response.cancel"
        assert "conversation.item.truncate" not in link.types()


async def test_the_keymap_in_the_config_moves_a_key() -> None:
    app = scripted_app(keymap={"stop": "f8"})
    async with app.run_test(size=(120, 24)) as pilot:
        await start_answer(app, pilot)
        await pilot.press("ctrl+g")
        assert app.state == "streaming"
        await pilot.press("f8")
        assert app.query_one(AssistantTurn).mark == "stopped"
        assert app.key_for("stop") == "f8"


async def test_the_palette_offers_what_applies_and_runs_it() -> None:
    app = scripted_app()
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)
        idle = [title for title, _, _ in offered(app)]
        assert idle == [
            *("Send", "Copy", "New", "Chats", "Settings", "Voice/Text", "Quit"),
            *("Copy last code block", "Status"),
        ]
        await start_answer(app, pilot)
        titles = [title for title, _, _ in offered(app)]
        # A conversation exists once a question is asked: it can be exported.
        assert titles == [
            *("Send", "Stop", "Pause", "Copy", "Settings", "Voice/Text", "Quit"),
            *("Copy last code block", "Export conversation", "Status"),
        ]
        assert "(^o)" in dict((t, h) for t, h, _ in offered(app))["Pause"]
        await pilot.press("ctrl+p")
        await pilot.press(*"pause")
        await wait_for(pilot, lambda: highlighted_command(app) == "Pause", what="Pause found")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.state == "paused", what="paused from the palette")


async def test_an_empty_prompt_is_not_sent() -> None:
    app = scripted_app()
    notices = Notices()
    async with app.run_test(size=(120, 24), notifications=True, message_hook=notices) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await pilot.press("enter")
        await wait_for(pilot, lambda: notices.saying("Type a question"), what="the hint")
        assert isinstance(app.link, ScriptedLink)
        assert "response.create" not in app.link.types()
        assert app.query_one(PromptBox).text == ""


async def test_new_line_keys_add_a_line_and_enter_sends_the_whole_prompt() -> None:
    app = scripted_app()
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await pilot.press(*"one", "ctrl+j", *"two", "alt+enter", *"three", "shift+enter")
        link = app.link
        assert isinstance(link, ScriptedLink)
        assert app.query_one(PromptBox).text == "one\ntwo\nthree\n"
        assert "response.create" not in link.types()
        await pilot.press(*"four", "enter")
        await wait_for(pilot, lambda: "response.create" in link.types())
        assert link.sent[-2]["item"]["content"][0]["text"] == "one\ntwo\nthree\nfour"
        assert app.query_one(PromptBox).text == ""


async def test_quit_key_exits() -> None:
    app = scripted_app()
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.return_code is not None, what="the app exited")
    assert app.return_code == 0
    assert ("close", None) in app.player.calls  # type: ignore[union-attr]


async def test_send_right_after_fast_typing_sends_everything_typed() -> None:
    app = scripted_app()
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        # As a terminal delivers a burst: the keys queue up before any of them is handled.
        for char in "quick?":
            app.post_message(events.Key(char, char))
        app.post_message(events.Key("enter", "\r"))
        link = app.link
        assert isinstance(link, ScriptedLink)
        await wait_for(pilot, lambda: "response.create" in link.types(), what="sent")
        assert link.sent[-2]["item"]["content"][0]["text"] == "quick?"


async def test_a_multi_line_paste_is_inserted_and_not_sent() -> None:
    app = scripted_app()
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await pilot.press(*"Explain: ")
        # A terminal with bracketed paste (Textual turns it on) delivers a paste as one event.
        app.post_message(events.Paste("first line\nsecond line\n"))
        prompt = app.query_one(PromptBox)
        await wait_for(pilot, lambda: "second line" in prompt.text, what="pasted")
        link = app.link
        assert isinstance(link, ScriptedLink)
        await stays(
            pilot,
            lambda: "response.create" not in link.types() and app.answer is None,
            0.3,
            what="the paste not sent",
        )
        assert prompt.text == "Explain: first line\nsecond line\n"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "response.create" in link.types(), what="sent")
        assert link.sent[-2]["item"]["content"][0]["text"] == "Explain: first line\nsecond line"


async def test_escape_stops_a_streaming_or_paused_answer() -> None:
    app = scripted_app()
    async with app.run_test(size=(120, 24)) as pilot:
        link = await start_answer(app, pilot)
        await pilot.press("escape")
        assert app.query_one(AssistantTurn).mark == "stopped"
        assert link.sent[-1] == {"type": "response.cancel", "response_id": "resp_1"}
        app.post_message(Connection.ResponseFinished("resp_1", "cancelled"))
        await wait_for(pilot, lambda: app.state == "idle")

        await start_answer_again(app, pilot, "resp_2")
        await pilot.press("ctrl+o")
        assert app.state == "paused"
        await pilot.press("escape")
        assert app.query(AssistantTurn).last().mark == "stopped"
        assert link.sent[-1] == {"type": "response.cancel", "response_id": "resp_2"}


async def start_answer_again(app: Talkterm, pilot: Any, response_id: str) -> None:
    """A second prompt, its answer started under ``response_id``."""
    await ask(pilot, app, "again")
    await wait_for(pilot, lambda: app.answer is not None, what="second answer started")
    app.post_message(Connection.ResponseStarted(response_id))
    app.post_message(Connection.TextArrived(response_id, "More."))
    await wait_for(pilot, lambda: app.answer and app.answer.response_id == response_id)


async def test_escape_when_nothing_plays_changes_nothing() -> None:
    app = scripted_app()
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await pilot.press(*"half a question")
        link = app.link
        assert isinstance(link, ScriptedLink)
        sent = len(link.sent)
        await pilot.press("escape")
        assert app.state == "idle" and len(link.sent) == sent
        assert app.query_one(PromptBox).text == "half a question"
        assert isinstance(app.focused, PromptBox)


async def test_escape_closes_the_palette_and_the_list_not_the_answer() -> None:
    app = scripted_app()
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, ConversationsScreen), what="list")
        await pilot.press("escape")
        await wait_for(
            pilot, lambda: not isinstance(app.screen, ConversationsScreen), what="closed"
        )

        await start_answer(app, pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="palette")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette), what="closed")
        assert app.state == "streaming" and app.query_one(AssistantTurn).mark is None


async def test_the_toggle_key_pauses_then_resumes() -> None:
    app = scripted_app()
    async with app.run_test(size=(120, 24)) as pilot:
        link = await start_answer(app, pilot)
        await pilot.press("f5")
        assert app.state == "paused"
        assert link.sent[-1] == {"type": "response.pause", "response_id": "resp_1"}
        assert "f5 resumes" in app.query_one(AssistantTurn).note
        await pilot.press("f5")
        assert app.state == "streaming"
        assert link.sent[-1] == {"type": "response.resume", "response_id": "resp_1"}


async def test_the_keymap_moves_the_new_keys_too() -> None:
    keymap = {
        "start": "f9",
        "newline": "enter",
        "stop_escape": "f8",
        "pause_resume": "f6",
        "copy_answer": "f4",
        "new_chat": "f3",
    }
    app = scripted_app(keymap=keymap)
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)
        await pilot.press(*"one", "enter", *"two")
        assert app.query_one(PromptBox).text == "one\ntwo" and app.answer is None
        await pilot.press("f9")
        await wait_for(pilot, lambda: app.answer is not None, what="sent with f9")
        app.post_message(Connection.ResponseStarted("resp_1"))
        app.post_message(Connection.TextArrived("resp_1", "Hello there."))
        await wait_for(pilot, lambda: app.answer and app.answer.turn.text, what="text")
        await pilot.press("f5", "escape")  # no longer bound
        assert app.state == "streaming"
        await pilot.press("f6")
        assert app.state == "paused"
        await pilot.press("f8")
        assert app.query_one(AssistantTurn).mark == "stopped"
        app.post_message(Connection.ResponseFinished("resp_1", "cancelled"))
        await wait_for(pilot, lambda: app.state == "idle")
        await pilot.press("f4")
        assert app.clipboard == "Hello there."
        await pilot.press("f3")
        await wait_for(pilot, lambda: not app.query(AssistantTurn), what="new chat")
        assert [app.key_for(k) for k in ("start", "stop_escape", "pause_resume")] == [
            *("f9", "f8", "f6")
        ]
