"""The terminal app as tests build it (on a scripted link or a real server), and what it posted."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.command import CommandList
from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot

from server.app import Server
from tests.helpers.player import FakePlayer
from tests.helpers.waiting import wait_for
from tui.app import Talkterm, make_app
from tui.config import Settings
from tui.errors import NotConnected
from tui.link.websocket import Connection
from tui.screens.conversations import ConversationsScreen
from tui.widgets.transcript import UserTurn


class ScriptedLink:
    """A link with no network: it 'connects' at once and records what the app sends."""

    resumable = False  # nothing to resume: every run is a new scripted session

    def __init__(
        self, app: Talkterm, *, llm: str = "fake-model", tts: str = "espeak", listens: bool = False
    ) -> None:
        self.app = app
        self.sent: list[dict[str, Any]] = []
        self.connected = False
        self._session = (llm, tts)
        self.listens = listens

    def send(self, event: dict[str, Any]) -> None:
        if not self.connected:
            raise NotConnected("scripted link is down")
        self.sent.append(event)

    def types(self) -> list[str]:
        """The types of the events sent, in order."""
        return [event["type"] for event in self.sent]

    async def run(self) -> None:
        self.connected = True
        self.app.post_message(Connection.Connected("ws://scripted/v1/realtime"))
        self.app.post_message(
            Connection.SessionStarted(*self._session, demo=False, listens=self.listens)
        )
        await asyncio.Event().wait()

    async def close(self) -> None:
        self.connected = False

    async def new_session(self) -> None:
        """A fresh session at once (another conversation was opened)."""
        self.sent.append({"type": "talkterm.test.new_session"})
        self.app.post_message(Connection.SessionStarted(*self._session, demo=False))


def scripted_app(player: FakePlayer | None = None, **settings: Any) -> Talkterm:
    """An app on a ScriptedLink, in snapshot mode (no timings on screen)."""
    settings.setdefault("snapshot_mode", True)
    return make_app(
        Settings(server="ws://scripted/v1/realtime", **settings),
        player=player or FakePlayer(speed=0),
        link_factory=ScriptedLink,
    )


def server_app(server: Server, player: FakePlayer | None = None, **settings: Any) -> Talkterm:
    """An app connected to a real in-process server."""
    return make_app(
        Settings(server=server.ws_url, reconnect_max_delay=0.5, **settings),
        player=player if player is not None else FakePlayer(speed=1.0),
    )


async def ask(pilot: Pilot[Any], app: Talkterm, text: str) -> None:
    """Type a prompt, press Send, and wait until the app has taken it."""
    # Until the audio device is checked, a prompt would get a text-only answer.
    await wait_for(pilot, lambda: app.audio_ok or app.status.audio_note, what="audio checked")
    before = len(app.query(UserTurn))
    await pilot.press(*text, "enter")
    await wait_for(pilot, lambda: len(app.query(UserTurn)) > before, what=f"prompt {text!r} sent")


def highlighted_command(app: Talkterm) -> str | None:
    """The title of the command the open palette has highlighted, if any."""
    lists = app.screen.query(CommandList)
    if not lists or lists.first().highlighted is None:
        return None
    found = lists.first()
    assert found.highlighted is not None
    return str(found.get_option_at_index(found.highlighted).prompt).split("\n")[0]


class Recorder:
    """A message_hook that keeps the messages the link posted."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        # By handler name: the link's messages live in tui.link_messages, named for Connection.
        if type(message).handler_name.startswith(("on_connection_", "on_audio_feed_")):
            self.messages.append(message)

    def of(self, kind: type[Message]) -> list[Any]:
        """The recorded messages of one kind."""
        return [m for m in self.messages if isinstance(m, kind)]


class Notices:
    """A message_hook that keeps the text of every notification (toast) the app raised."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.messages.append(message.notification.message)

    def saying(self, words: str) -> bool:
        """Whether some notification said ``words``."""
        return any(words in text for text in self.messages)


async def open_older_chat(pilot: Pilot[None], app: Talkterm, prompts: list[str]) -> None:
    """Open the second conversation of the list (ctrl+l) and wait until its questions show."""
    await pilot.press("ctrl+l")
    await wait_for(pilot, lambda: isinstance(app.screen, ConversationsScreen), what="list")
    await pilot.press("down", "enter")
    await wait_for(
        pilot,
        lambda: [t.prompt for t in app.query(UserTurn)] == prompts,
        what="older conversation shown",
    )
