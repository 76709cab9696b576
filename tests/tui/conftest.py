"""Fixtures for the terminal app: a recording player, a scripted link, a real server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from textual.message import Message
from textual.pilot import Pilot

from server import protocol as p
from server.app import Server
from tests.conftest import ServerFactory
from tui.app import Talkterm, make_app
from tui.config import Settings
from tui.connection import Connection, NotConnected
from tui.player import AudioUnavailable
from tui.widgets.transcript import UserTurn


class FakePlayer:
    """Records every call and "plays" on a simulated clock (``speed`` audio ms per wall ms).

    With ``speed=0`` the clock stands still and tests set ``position`` by hand.
    """

    def __init__(self, *, speed: float = 1.0, unavailable: str | None = None) -> None:
        self.speed = speed
        self.unavailable = unavailable
        self.calls: list[tuple[str, Any]] = []
        self.underruns = 0
        self.position = 0.0
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._accepting = False
        self._fed_ms = 0.0
        self._played_before = 0.0
        self._since: float | None = None
        self.paused = False

    def _record(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))

    def names(self) -> list[str]:
        """The calls made, by name."""
        return [name for name, _ in self.calls]

    def open(self) -> None:
        self._record("open")
        if self.unavailable:
            raise AudioUnavailable(self.unavailable)

    def close(self) -> None:
        self._record("close")

    def begin(self, generation: int) -> None:
        with self._lock:
            self._record("begin", generation)
            self._generation, self._accepting = generation, True
            self._fed_ms = self._played_before = self.position = 0.0
            self._since, self.paused = None, False

    def feed(self, generation: int, pcm: bytes) -> None:
        with self._lock:
            if generation != self._generation or not self._accepting:
                self._record("feed_dropped", generation)
                return
            self._record("feed", len(pcm))
            self._fed_ms += p.pcm_ms(len(pcm))
            if self._since is None and not self.paused:
                self._since = time.monotonic()

    def _played(self) -> float:
        if self.speed == 0:
            return min(self.position, self._fed_ms)
        running = 0.0 if self._since is None else (time.monotonic() - self._since) * 1000
        return min(self._fed_ms, self._played_before + running * self.speed)

    def pause(self) -> None:
        with self._lock:
            self._record("pause")
            self._played_before, self._since, self.paused = self._played(), None, True

    def resume(self) -> None:
        with self._lock:
            self._record("resume")
            self.paused = False
            self._since = time.monotonic()

    def stop(self) -> float:
        with self._lock:
            played = self._played()
            self._record("stop", played)
            self._accepting, self._since, self.paused = False, None, False
            self._played_before = played
            self._fed_ms = played
            return played

    def mark_finished(self, generation: int) -> None:
        self._record("mark_finished", generation)

    @property
    def played_ms(self) -> float:
        with self._lock:
            return self._played()

    @property
    def buffered_ms(self) -> float:
        with self._lock:
            return max(0.0, self._fed_ms - self._played())


class ScriptedLink:
    """A link with no network: it 'connects' at once and records what the app sends."""

    def __init__(self, app: Talkterm, *, llm: str = "fake-model", tts: str = "espeak") -> None:
        self.app = app
        self.sent: list[dict[str, Any]] = []
        self.connected = False
        self._session = (llm, tts)

    def send(self, event: dict[str, Any]) -> None:
        if not self.connected:
            raise NotConnected("scripted link is down")
        self.sent.append(event)

    def types(self) -> list[str]:
        return [event["type"] for event in self.sent]

    async def run(self) -> None:
        self.connected = True
        self.app.post_message(Connection.Connected("ws://scripted/v1/realtime"))
        self.app.post_message(Connection.SessionStarted(*self._session, demo=False))
        await asyncio.Event().wait()

    async def close(self) -> None:
        self.connected = False

    async def new_session(self) -> None:
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


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], object], timeout: float = 10.0, what: str = ""
) -> None:
    """Let the app run until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.02)


async def ask(pilot: Pilot[Any], app: Talkterm, text: str) -> None:
    """Type a prompt, press Send, and wait until the app has taken it."""
    # Until the audio device is checked, a prompt would get a text-only answer.
    await wait_for(pilot, lambda: app.audio_ok or app.status.audio_note, what="audio checked")
    before = len(app.query(UserTurn))
    await pilot.press(*text, "ctrl+j")
    await wait_for(pilot, lambda: len(app.query(UserTurn)) > before, what=f"prompt {text!r} sent")


class Recorder:
    """A message_hook that keeps the messages the link posted."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        if type(message).__qualname__.startswith(("Connection.", "AudioFeed.")):
            self.messages.append(message)

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]


@pytest.fixture
async def speaking_server(start_server: ServerFactory) -> Server:
    """A real server on port 0, wired to the fake LLM, speaking with espeak-ng."""
    return await start_server(tts="espeak", espeak_rate=400)


@pytest.fixture
async def text_server(start_server: ServerFactory) -> Server:
    """A real server on port 0, wired to the fake LLM, with no speech."""
    return await start_server(tts="none")
