"""The voice per language in the settings screen: offered as the server lists it, chosen with
the keys, saved to the config file and sent to the session."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Select, Static

from server import protocol as p
from server.app import Server
from tests.helpers.player import FakePlayer
from tests.helpers.server import ServerFactory
from tests.helpers.tui_app import (
    Recorder,
    ScriptedLink,
    highlighted_command,
    scripted_app,
    server_app,
)
from tests.helpers.waiting import wait_for
from tui.config import config_path
from tui.languages import LanguageVoices, read_languages
from tui.link.server_events import translate
from tui.link.websocket import Connection
from tui.preferences import Preferences
from tui.screens.language_voices import LanguageVoicesField
from tui.screens.settings import Chosen, SettingsScreen

OFFERED = {
    "cmn": {"voice": "cmn-latn-pinyin", "automatic": "cmn-latn-pinyin",
            "voices": ["cmn", "cmn-latn-pinyin", "yue"]},
    "en": {"voice": "en-us", "automatic": "en-us", "voices": ["en-gb", "en-us"]},
    "ru": {"voice": "ru", "automatic": "ru", "voices": ["ru", "ru-lv"]},
}  # fmt: skip
LANGUAGES = read_languages(OFFERED)


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


def shown(select: Select[Any]) -> list[str]:
    """The option labels of a Select, as the person reads them."""
    return [str(prompt) for prompt, _ in select._options]


async def test_a_voice_is_picked_per_language_with_the_keys() -> None:
    page = SettingsScreen(
        Preferences(language_voices={"ru": "ru-lv"}),
        theme="textual-dark",
        themes=["textual-dark"],
        languages=LANGUAGES,
    )
    host = Host(page)
    async with host.run_test(size=(100, 50)) as pilot:
        language = page.query_one("#language", Select)
        voice = page.query_one("#language-voice", Select)
        # The language already chosen comes first; each language names the voice reading it.
        assert (language.value, voice.value) == ("ru", "ru-lv")
        assert shown(language) == [
            "English (en) · en-us", "Mandarin (cmn) · cmn-latn-pinyin", "Russian (ru) · ru-lv"
        ]  # fmt: skip
        language.value = "cmn"
        await wait_for(pilot, lambda: voice.value == Select.NULL, what="Mandarin's voices")
        assert voice.prompt == "automatic (cmn-latn-pinyin)"  # the blank choice: automatic
        assert shown(voice)[1:] == ["cmn", "cmn-latn-pinyin", "yue"]
        voice.focus()
        await pilot.press("enter", "down", "down", "down", "enter")
        await wait_for(pilot, lambda: voice.value == "yue", what="yue picked")
        assert "Mandarin (cmn) · yue" in shown(language)
        assert "Mandarin (cmn) → yue" in str(page.query_one("#language-summary", Static).content)
        language.value = "ru"
        await wait_for(pilot, lambda: voice.value == "ru-lv", what="Russian's choice shown again")
        await pilot.press("enter", "up", "up", "enter")  # back to automatic
        await wait_for(pilot, lambda: voice.value == Select.NULL, what="automatic")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: host.results, what="the screen closed")
    (chosen,) = host.results
    assert chosen is not None and chosen.preferences.language_voices == {"cmn": "yue"}


async def test_a_server_that_lists_no_languages_keeps_the_choices_made() -> None:
    kept = Preferences(language_voices={"cmn": "yue"})
    page = SettingsScreen(kept, theme="textual-dark", themes=["textual-dark"])
    host = Host(page)
    async with host.run_test(size=(100, 50)) as pilot:
        assert not page.query("#language")
        summary = str(page.query_one("#language-summary", Static).content)
        assert "does not list voices per language" in summary and "yue" in summary
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: host.results, what="the screen closed")
    (chosen,) = host.results
    assert chosen is not None and chosen.preferences.language_voices == {"cmn": "yue"}


def language_updates(link: ScriptedLink) -> list[dict[str, Any]]:
    """The voices per language each session.update asked for."""
    return [
        event["session"]["talkterm"]["language_voices"]
        for event in link.sent
        if event["type"] == p.SESSION_UPDATE
        and "language_voices" in event["session"].get("talkterm", {})
    ]


async def choose(app: Any, pilot: Any, language: str, voice: str | None) -> None:
    """Open the settings, set one language's voice (None: automatic), save."""
    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the screen")
    page = app.screen
    page.query_one("#language", Select).value = language
    voices = page.query_one(LanguageVoicesField)
    await wait_for(pilot, lambda: voices.showing == language, what="the language's voices")
    field = page.query_one("#language-voice", Select)
    if voice is None:
        field.clear()
    else:
        field.value = voice
    await wait_for(pilot, lambda: voices.chosen.get(language) == voice, what="the voice taken")
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: not isinstance(app.screen, SettingsScreen), what="saved")


async def test_the_choice_is_saved_sent_and_taken_back() -> None:
    app = scripted_app()
    async with app.run_test(size=(100, 50)) as pilot:
        link = app.link
        assert isinstance(link, ScriptedLink)
        await wait_for(pilot, lambda: link.connected, what="connected")
        app.post_message(Connection.SessionUpdated(None, None, LANGUAGES))
        await wait_for(pilot, lambda: app.preferences.languages, what="the languages offered")
        await choose(app, pilot, "cmn", "yue")
        await wait_for(pilot, lambda: language_updates(link), what="a session.update")
        saved = tomllib.loads(config_path().read_text())["preferences"]
        assert saved["language_voices"] == {"cmn": "yue"}
        await choose(app, pilot, "cmn", None)
        await wait_for(pilot, lambda: len(language_updates(link)) == 2, what="the second update")
    # Back to automatic is said as null: the server merges choices, so a missing key would stay.
    assert language_updates(link) == [{"cmn": "yue"}, {"cmn": None}]
    assert "language_voices" not in tomllib.loads(config_path().read_text()).get("preferences", {})


async def test_a_real_servers_session_takes_the_voice_chosen_on_screen(
    start_server: ServerFactory,
) -> None:
    server = await start_server(tts="espeak", espeak_rate=400)
    app = server_app(server, FakePlayer(speed=20.0))
    recorder = Recorder()
    async with app.run_test(size=(100, 50), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.preferences.languages, what="the server's languages")
        offered = app.preferences.languages or {}
        assert offered["cmn"].voice == "cmn-latn-pinyin" and "cmn" in offered["cmn"].voices
        await choose(app, pilot, "cmn", "cmn")
        await wait_for(pilot, lambda: chosen_on(server) == {"cmn": "cmn"}, what="the session")
        await wait_for(
            pilot,
            lambda: (app.preferences.languages or {})["cmn"].voice == "cmn",
            what="session.updated naming the new voice",
        )
    assert not recorder.of(Connection.ServerError), "the server refused the choice"


def chosen_on(server: Server) -> dict[str, str]:
    """The voice per language the server's one session holds."""
    assert server.services is not None
    (session,) = server.services.sessions.values()
    return dict(session.config.language_voices)


def test_the_servers_languages_are_read_and_wrong_entries_left_out() -> None:
    ext = {"llm": "x", "tts": "y", "languages": {**OFFERED, "xx": "nonsense", "de": {}}}
    message, _ = translate(p.encode({"type": p.SESSION_CREATED, "session": {"talkterm": ext}}))
    assert isinstance(message, Connection.SessionStarted)
    assert message.languages is not None and set(message.languages) == {"cmn", "en", "ru", "de"}
    assert message.languages["cmn"] == LanguageVoices(
        "cmn", "cmn-latn-pinyin", "cmn-latn-pinyin", ("cmn", "cmn-latn-pinyin", "yue")
    )
    assert message.languages["de"] == LanguageVoices("de", None, None, ())


def test_stored_choices_round_trip_and_a_bad_one_is_refused() -> None:
    chosen = Preferences(voice="en-us", language_voices={"cmn": "yue"})
    assert Preferences.from_dict(chosen.to_dict()) == chosen
    update = chosen.session_update(cleared=["ru"])
    assert update is not None
    assert update["session"]["talkterm"] == {"language_voices": {"ru": None, "cmn": "yue"}}
    with pytest.raises(ValueError, match="language_voices"):
        Preferences.from_dict({"language_voices": {"cmn": 3}})


async def test_the_palette_opens_the_screen_on_the_voice_per_language() -> None:
    app = scripted_app()
    async with app.run_test(size=(100, 50)) as pilot:
        await wait_for(pilot, lambda: app.link.connected, what="connected")
        app.post_message(Connection.SessionUpdated(None, None, LANGUAGES))
        await wait_for(pilot, lambda: app.preferences.languages, what="the languages offered")
        await pilot.press("ctrl+p", *"voice per language")
        await wait_for(
            pilot,
            lambda: "Voice per language" in (highlighted_command(app) or ""),
            what="the command",
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the screen")
        assert app.screen.query_one("#language", Select).has_focus
