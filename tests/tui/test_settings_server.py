"""Settings on a real server: the session takes what the screen saves; each chat keeps its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Select, TextArea

from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.player import FakePlayer
from tests.helpers.server import ServerFactory
from tests.helpers.tui_app import Recorder, ask, server_app
from tests.helpers.waiting import wait_for
from tui.app import Talkterm
from tui.link.websocket import Connection
from tui.preferences import Preferences
from tui.screens.conversations import ConversationsScreen
from tui.screens.settings import SettingsScreen
from tui.store import Store
from tui.widgets.transcript import UserTurn


def session_shown(server: Server) -> dict[str, Any]:
    """The session as the server's session.updated shows it (the app holds one session)."""
    assert server.services is not None
    (session,) = server.services.sessions.values()
    return session.config.as_realtime(session.id)


def last_request(fake_llm: FakeLLM) -> tuple[str, str]:
    """(model, system prompt) of the last chat request the upstream received."""
    body = fake_llm.chat_requests[-1].json
    system = [m["content"] for m in body["messages"] if m["role"] == "system"]
    return body["model"], system[0] if system else ""


async def open_settings(pilot: Pilot[Any], app: Talkterm) -> SettingsScreen:
    """Press the settings key and wait for its screen."""
    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the settings")
    assert isinstance(app.screen, SettingsScreen)
    return app.screen


async def test_the_settings_screen_changes_a_real_servers_session(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    fake_llm.models.append("other-model")
    server = await start_server(tts="espeak", espeak_rate=400)  # it names its voices
    app = server_app(server, FakePlayer(speed=20.0))
    recorder = Recorder()
    async with app.run_test(size=(100, 40), message_hook=recorder) as pilot:
        await wait_for(pilot, lambda: app.preferences.voices, what="the server's lists")
        assert app.preferences.models == ["fake-model", "other-model"]
        assert "en-gb" in (app.preferences.voices or [])
        page = await open_settings(pilot, app)
        page.query_one("#model", Select).value = "other-model"
        page.query_one("#voice", Select).value = "en-gb"
        page.query_one("#speed", Input).value = "1.25"
        page.query_one("#instructions", TextArea).text = "Answer like a pirate."
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: session_shown(server)["model"] == "other-model")
        shown = session_shown(server)
        assert shown["audio"]["output"]["voice"] == "en-gb"
        assert shown["audio"]["output"]["speed"] == 1.25
        assert shown["instructions"] == "Answer like a pirate."
        assert not recorder.of(Connection.ServerError), "the server refused a setting"
        await ask(pilot, app, "Hello?")
        await wait_for(pilot, lambda: app.state == "idle", what="the answer")
    assert last_request(fake_llm) == ("other-model", "Answer like a pirate.")


async def save(pilot: Pilot[Any], app: Talkterm, model: str, instructions: str) -> None:
    """Choose a model and a system prompt in the settings screen and save them."""
    page = await open_settings(pilot, app)
    page.query_one("#model", Select).value = model
    page.query_one("#instructions", TextArea).text = instructions
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: not isinstance(app.screen, SettingsScreen), what="saved")


async def test_each_conversation_keeps_its_settings_and_takes_them_back_when_opened(
    fake_llm: FakeLLM, start_server: ServerFactory, tmp_path: Path
) -> None:
    fake_llm.models.append("other-model")
    server = await start_server(tts="none")
    db = tmp_path / "chats.db"
    app = server_app(server, FakePlayer(speed=0), store_file=db)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
        await save(pilot, app, "other-model", "Be a pirate.")
        fake_llm.enqueue(Reply(chunks=["Arr."]))
        await ask(pilot, app, "Tea?")
        await wait_for(pilot, lambda: app.state == "idle", what="the first answer")
        assert last_request(fake_llm) == ("other-model", "Be a pirate.")

        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: not app.query(UserTurn), what="a new chat")
        await save(pilot, app, "fake-model", "Be a butler.")
        fake_llm.enqueue(Reply(chunks=["Certainly."]))
        await ask(pilot, app, "Coffee?")
        await wait_for(pilot, lambda: app.state == "idle", what="the second answer")
        assert last_request(fake_llm) == ("fake-model", "Be a butler.")

        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, ConversationsScreen), what="list")
        await pilot.press("down", "enter")  # the pirate's chat
        await wait_for(pilot, lambda: [t.prompt for t in app.query(UserTurn)] == ["Tea?"])
        assert app.preferences.current == Preferences("other-model", instructions="Be a pirate.")
        await wait_for(pilot, lambda: app.link_state == "connected", what="its session")
        fake_llm.enqueue(Reply(chunks=["Aye."]))
        await ask(pilot, app, "More?")
        await wait_for(pilot, lambda: app.state == "idle", what="the pirate again")
        assert last_request(fake_llm) == ("other-model", "Be a pirate.")
    with Store(db) as store:
        kept = {c.title: c.settings for c in store.conversations()}
    assert kept == {
        "Tea?": {"model": "other-model", "instructions": "Be a pirate."},
        "Coffee?": {"model": "fake-model", "instructions": "Be a butler."},
    }
