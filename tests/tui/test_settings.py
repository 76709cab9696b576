"""Settings in the app: the screen, what reaches the server, and what survives a restart."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, Select, Static, Switch, TextArea

from server import protocol as p
from tests.helpers.tui_app import ScriptedLink, highlighted_command, scripted_app
from tests.helpers.waiting import wait_for
from tui.app.config_file import replace_table, write_table
from tui.config import config_path
from tui.link.server_events import translate
from tui.link.websocket import Connection
from tui.preferences import Preferences
from tui.screens.settings import Chosen, Problem, SettingsScreen

MODELS = ["small-model", "big-model"]
VOICES = ["en-us", "en-gb"]


class Host(App[None]):
    """A throwaway app that shows the settings screen and keeps what it returned."""

    def __init__(self, screen: SettingsScreen) -> None:
        super().__init__()
        self.settings_screen = screen
        self.results: list[Chosen | None] = []

    def compose(self) -> ComposeResult:
        yield Static("host")

    def on_mount(self) -> None:
        self.push_screen(self.settings_screen, self.results.append)


def screen(**kwargs: Any) -> SettingsScreen:
    kwargs.setdefault("theme", "textual-dark")
    kwargs.setdefault("themes", ["textual-dark", "nord"])
    return SettingsScreen(Preferences(), **kwargs)


async def test_the_screen_lists_what_the_server_offers_and_returns_the_choice() -> None:
    host = Host(screen(models=MODELS, voices=VOICES))
    async with host.run_test(size=(100, 40)) as pilot:
        page = host.settings_screen
        assert isinstance(page.query_one("#model"), Select)
        page.query_one("#model", Select).value = "big-model"
        page.query_one("#voice", Select).value = "en-gb"
        page.query_one("#speed", Input).value = "1.25"
        page.query_one("#instructions", TextArea).text = "Answer like a pirate."
        page.query_one("#theme", Select).value = "nord"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: host.results, what="the screen closed")
    chosen = Preferences("big-model", "en-gb", 1.25, "Answer like a pirate.")
    assert host.results == [Chosen(chosen, "nord")]


async def test_without_lists_the_screen_offers_text_fields() -> None:
    host = Host(screen(focus="voice"))
    async with host.run_test(size=(100, 40)) as pilot:
        page = host.settings_screen
        assert isinstance(page.query_one("#model"), Input)
        assert page.query_one("#voice", Input).has_focus
        await pilot.press(*"en-scotland", "ctrl+s")
        await wait_for(pilot, lambda: host.results, what="the screen closed")
    assert host.results == [Chosen(Preferences(voice="en-scotland"), "textual-dark")]


@pytest.mark.parametrize("speed", ["2", "0.1", "fast"])
async def test_a_speaking_rate_out_of_range_is_refused_in_plain_words(speed: str) -> None:
    host = Host(screen(focus="speed"))
    async with host.run_test(size=(100, 40)) as pilot:
        page = host.settings_screen
        page.query_one("#speed", Input).value = speed
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "speaking rate" in str(page.query_one(Problem).content))
        assert host.screen is page, "the screen stays open"
        assert page.query_one("#speed", Input).has_focus
        await pilot.press("escape")
    assert host.results == [None]


def updates(link: ScriptedLink) -> list[dict[str, Any]]:
    """The session.update events that carried a setting (not only the output mode)."""
    return [
        event["session"]
        for event in link.sent
        if event["type"] == p.SESSION_UPDATE and "output_modalities" not in event["session"]
    ]


async def test_saved_settings_reach_the_server_and_survive_a_restart() -> None:
    app = scripted_app()
    async with app.run_test(size=(100, 40)) as pilot:
        link = app.link
        assert isinstance(link, ScriptedLink)
        await wait_for(pilot, lambda: link.connected, what="connected")
        app.post_message(Connection.SessionUpdated(MODELS, VOICES))
        await pilot.pause()
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the screen")
        page = app.screen
        assert isinstance(page.query_one("#model"), Select), "lists learned from the server"
        page.query_one("#model", Select).value = "big-model"
        page.query_one("#voice", Select).value = "en-gb"
        page.query_one("#speed", Input).value = "0.75"
        page.query_one("#instructions", TextArea).text = "Be brief."
        page.query_one("#theme", Select).value = "nord"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: updates(link), what="a session.update")
        assert app.theme == "nord"
    expected = {
        "type": "realtime",
        "model": "big-model",
        "instructions": "Be brief.",
        "audio": {"output": {"voice": "en-gb", "speed": 0.75}},
    }
    assert updates(link) == [expected]
    saved = tomllib.loads(config_path().read_text())["preferences"]
    assert saved == {
        "model": "big-model",
        "voice": "en-gb",
        "speed": 0.75,
        "instructions": "Be brief.",
        "theme": "nord",
    }

    again = scripted_app()
    async with again.run_test(size=(100, 40)) as pilot:
        relink = again.link
        assert isinstance(relink, ScriptedLink)
        await wait_for(pilot, lambda: updates(relink), what="the saved settings sent")
        assert again.theme == "nord"
    assert updates(relink) == [expected]


async def test_the_palette_opens_the_screen_on_one_field() -> None:
    app = scripted_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("ctrl+p", *"speaking rate")
        await wait_for(
            pilot, lambda: "Speaking rate" in (highlighted_command(app) or ""), what="the command"
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the screen")
        assert app.screen.query_one("#speed", Input).has_focus


def test_the_config_file_keeps_everything_else_it_holds(tmp_path: Path) -> None:
    text = (
        '# my talkterm\nserver = "ws://box:8765/v1/realtime"\n\n'
        '[preferences]\nvoice = "old"\n\n[keymap]  # mine\nstop = "f8"\n'
    )
    updated = replace_table(text, "preferences", {"voice": 'say "hi"\n', "speed": 1.5})
    assert updated.startswith('# my talkterm\nserver = "ws://box:8765/v1/realtime"\n')
    assert '[keymap]  # mine\nstop = "f8"' in updated
    data = tomllib.loads(updated)
    assert data["preferences"] == {"voice": 'say "hi"\n', "speed": 1.5}
    assert data["keymap"] == {"stop": "f8"}
    assert tomllib.loads(replace_table("", "preferences", {"theme": "nord"})) == {
        "preferences": {"theme": "nord"}
    }


def test_preferences_round_trip_and_refuse_a_bad_stored_rate() -> None:
    chosen = Preferences(model="m", speed=1.25)
    assert chosen.to_dict() == {"model": "m", "speed": 1.25}
    assert Preferences.from_dict({**chosen.to_dict(), "theme": "nord"}) == chosen
    assert Preferences().session_update() is None
    with pytest.raises(ValueError, match=r"between 0\.25 and 1\.5"):
        Preferences.from_dict({"speed": 3})


def test_models_and_voices_are_read_from_the_session_extension() -> None:
    ext = {"llm": "x", "tts": "y", "models": ["a", {"id": "b"}], "voices": [{"name": "v"}]}
    message, _ = translate(p.encode({"type": p.SESSION_CREATED, "session": {"talkterm": ext}}))
    assert isinstance(message, Connection.SessionStarted)
    assert (message.models, message.voices) == (["a", "b"], ["v"])
    listed = {"talkterm": {"voices": ["w"]}}
    message, _ = translate(p.encode({"type": p.SESSION_UPDATED, "session": listed}))
    assert message == Connection.SessionUpdated(None, ["w"])


async def test_echo_cancellation_is_switched_on_saved_and_kept() -> None:
    app = scripted_app()
    async with app.run_test(size=(100, 40)) as pilot:
        assert app.preferences.echo is False  # off by default
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the screen")
        app.screen.query_one("#echo", Switch).value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.preferences.echo, what="echo cancellation on")
    assert tomllib.loads(config_path().read_text())["preferences"] == {"echo_cancellation": True}
    again = scripted_app()
    async with again.run_test(size=(100, 40)):
        assert again.preferences.echo is True


async def test_a_saved_echo_choice_stays_saved_when_the_flag_says_the_same() -> None:
    write_table(config_path(), "preferences", {"echo_cancellation": True})
    app = scripted_app(echo_cancellation=True)  # the flag agrees with what was saved
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the screen")
        await pilot.press("ctrl+s")  # saved again, the switch untouched
        await wait_for(pilot, lambda: not isinstance(app.screen, SettingsScreen), what="saved")
    assert tomllib.loads(config_path().read_text())["preferences"] == {"echo_cancellation": True}
    later = scripted_app()  # a run without the flag still finds the choice
    async with later.run_test(size=(100, 40)):
        assert later.preferences.echo is True
