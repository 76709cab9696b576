"""``--transport hybrid`` through nginx with TLS: the first answer over HTTP, then the WebSocket.

The app reaches the server as a deployment would: ``https://``/``wss://`` to nginx with a
self-signed certificate made for the test (trusted with ``ca_file``), nginx to the server.
Between nginx and the server a gate holds WebSocket upgrades until the test releases
them, so the first answer is over HTTP for certain, however fast the machine.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text, refused_url
from tests.helpers.nginx import Mode, nginx_binary, nginx_tls_proxy
from tests.helpers.player import FakePlayer
from tests.helpers.server import ServerFactory, sessions
from tests.helpers.tcp_proxy import TcpProxy
from tests.helpers.tui_app import Recorder, ask
from tests.helpers.waiting import wait_for
from tui.app import Talkterm, make_app
from tui.cli import main
from tui.config import Settings, load_settings
from tui.link.hybrid import HybridLink
from tui.link.websocket import Connection
from tui.widgets.assistant_turn import AssistantTurn
from tui.widgets.transcript import UserTurn

# CI installs nginx-light (scripts/bootstrap.sh): there a missing nginx fails, never skips.
pytestmark = pytest.mark.skipif(
    nginx_binary() is None and not os.environ.get("CI"), reason="needs nginx-light"
)

LONG = "The kettle goes on. The cups are warmed. The leaves go in. After four minutes, pour. " * 6


@pytest.fixture
async def speaking_server(start_server: ServerFactory) -> Server:
    return await start_server(tts="espeak", espeak_rate=400)


@asynccontextmanager
async def behind_tls(server: Server, mode: Mode = "upgrade") -> AsyncIterator[Any]:
    """app → nginx (TLS) → a gate holding WebSocket upgrades → server: (gate, URL, CA file)."""
    async with (
        TcpProxy(server.port, hold_upgrades=True) as gate,
        nginx_tls_proxy(gate.port, mode) as (url, ca),
    ):
        yield gate, url, ca


def hybrid_app(url: str, ca: Path, player: FakePlayer, **settings: Any) -> Talkterm:
    return make_app(
        Settings(server=url, transport="hybrid", ca_file=ca, reconnect_max_delay=0.5, **settings),
        player=player,
    )


def hybrid(app: Talkterm) -> HybridLink:
    assert isinstance(app.link, HybridLink)
    return app.link


def said(fake_llm: FakeLLM) -> list[tuple[str, str]]:
    """The conversation of the last request the LLM saw, without the system prompt."""
    messages = fake_llm.chat_requests[-1].json["messages"]
    return [(m["role"], m["content"]) for m in messages if m["role"] != "system"]


async def test_first_answer_over_http_the_next_on_the_websocket_and_both_kept(
    fake_llm: FakeLLM, speaking_server: Server, tmp_path: Path
) -> None:
    fake_llm.enqueue(
        Reply(chunks=chunk_text("Tea is ready. Enjoy it."), delay=0.01),
        Reply(chunks=chunk_text("Green, then black."), delay=0.01),
        Reply(chunks=["Yes."]),
    )
    db = tmp_path / "chats.db"
    player, recorder = FakePlayer(speed=4.0), Recorder()
    async with behind_tls(speaking_server) as (gate, url, ca):
        assert url.startswith("https://")
        app = hybrid_app(url, ca, player, store_file=db)
        async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
            await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
            assert app.status.link_detail == "HTTP streaming"
            await wait_for(pilot, lambda: gate.upgrades_held == 1, what="the WebSocket waiting")
            await ask(pilot, app, "Tea?")
            await wait_for(pilot, lambda: app.state == "idle" and player.played_ms > 300,
                           what="the first answer heard")
            assert app.query(AssistantTurn).last().text == "Tea is ready. Enjoy it."
            assert not sessions(speaking_server)  # it came over HTTP: no WebSocket session

            gate.release()
            await wait_for(pilot, lambda: hybrid(app).later.connected, what="the WebSocket up")
            await ask(pilot, app, "Which teas?")
            await wait_for(pilot, lambda: app.query(AssistantTurn).last().text
                           == "Green, then black.", what="the second answer")
            # played_ms counts the answer playing now: the second one.
            await wait_for(pilot, lambda: app.state == "idle" and player.played_ms > 300,
                           what="the second answer heard")
            # Over the WebSocket now (the status line says so), one session, both turns in it.
            assert app.status.link_detail == "" and len(sessions(speaking_server)) == 1
            assert [m.transport for m in recorder.of(Connection.Connected)] == [
                "HTTP streaming",
                "",
            ]
            assert said(fake_llm) == [
                ("user", "Tea?"),
                ("assistant", "Tea is ready. Enjoy it."),
                ("user", "Which teas?"),
            ]

    # --continue: both turns are shown and go to the new session (over HTTP again at first).
    async with behind_tls(speaking_server) as (gate, url, ca):
        again = hybrid_app(url, ca, FakePlayer(speed=0), store_file=db, continue_last=True,
                           text_only=True)
        async with again.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: [t.prompt for t in again.query(UserTurn)]
                           == ["Tea?", "Which teas?"], what="both turns shown")
            await wait_for(pilot, lambda: again.link_state == "connected", what="connected")
            await ask(pilot, again, "And now?")
            await wait_for(pilot, lambda: len(fake_llm.chat_requests) == 3, what="third request")
    assert said(fake_llm) == [
        ("user", "Tea?"),
        ("assistant", "Tea is ready. Enjoy it."),
        ("user", "Which teas?"),
        ("assistant", "Green, then black."),
        ("user", "And now?"),
    ]


async def test_stop_in_the_first_answer_closes_the_request_and_the_session_gets_what_was_heard(
    fake_llm: FakeLLM, speaking_server: Server
) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG * 4), delay=0.02), Reply(chunks=["Fine."]))
    player, recorder = FakePlayer(speed=1.0), Recorder()
    async with behind_tls(speaking_server) as (gate, url, ca):
        app = hybrid_app(url, ca, player)
        async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
            await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
            await wait_for(pilot, lambda: gate.upgrades_held == 1, what="the WebSocket waiting")
            await ask(pilot, app, "Tea?")
            await wait_for(pilot, lambda: player.played_ms > 1500, what="the first answer speaking")
            await pilot.press("ctrl+o")
            assert app.state == "paused" and player.paused
            await wait_for(pilot, lambda: recorder.of(Connection.ResponsePaused), what="paused")
            await pilot.press("ctrl+r")
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: app.state == "idle", what="idle after stop")
            await fake_llm.wait_disconnect(timeout=5)  # the closed request reached the upstream
            kept = app.history[-1][1]

            gate.release()
            await wait_for(pilot, lambda: hybrid(app).later.connected, what="the WebSocket up")
            await ask(pilot, app, "Shorter?")
            await wait_for(pilot, lambda: len(fake_llm.chat_requests) == 2, what="second request")
            assert len(sessions(speaking_server)) == 1
    (_, question), (role, heard), (_, again) = said(fake_llm)
    assert (question, role, again) == ("Tea?", "assistant", "Shorter?")
    # The session starts with what was heard of the stopped answer, as the app kept it.
    assert 0 < len(heard) < len(LONG.strip()) and LONG.startswith(heard) and LONG.startswith(kept)


async def test_a_websocket_up_before_the_first_question_takes_it(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(tts="none")
    fake_llm.enqueue(Reply(chunks=["Sencha."]))
    async with behind_tls(server) as (gate, url, ca):
        gate.release()
        app = hybrid_app(url, ca, FakePlayer(speed=0), text_only=True)
        async with app.run_test(size=(100, 30)) as pilot:
            # Nothing was asked over HTTP: the conversation moves as soon as the WebSocket is up.
            await wait_for(pilot, lambda: hybrid(app).moved, what="moved to the WebSocket")
            await wait_for(pilot, lambda: app.status.link_detail == "", what="status updated")
            await ask(pilot, app, "A green tea?")
            await wait_for(pilot, lambda: app.state == "idle" and len(fake_llm.chat_requests) == 1,
                           what="the answer")
            assert app.query(AssistantTurn).last().text == "Sencha."
            assert len(sessions(server)) == 1


async def test_a_refused_websocket_leaves_the_app_on_http(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(tts="none")
    fake_llm.enqueue(Reply(chunks=["Oolong."]), Reply(chunks=["Stronger."]))
    async with nginx_tls_proxy(server.port, "plain") as (url, ca):
        app = hybrid_app(url, ca, FakePlayer(speed=0), text_only=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
            await ask(pilot, app, "A dark tea?")
            await wait_for(pilot, lambda: app.state == "idle" and len(fake_llm.chat_requests) == 1,
                           what="first answer")
            # nginx without the Upgrade lines refuses the WebSocket: HTTP it stays.
            await wait_for(pilot, lambda: hybrid(app).later.connected, what="the later link up")
            await ask(pilot, app, "Stronger?")
            await wait_for(pilot, lambda: app.state == "idle" and len(fake_llm.chat_requests) == 2,
                           what="second answer")
            assert app.status.link_detail == "HTTP streaming"
            assert app.query(AssistantTurn).last().text == "Stronger."
    assert not sessions(server)
    assert said(fake_llm) == [
        ("user", "A dark tea?"),
        ("assistant", "Oolong."),
        ("user", "Stronger?"),
    ]


@pytest.mark.parametrize(("transport", "detail", "websocket_sessions"),
                         [("websocket", "", 1), ("http", "HTTP streaming", 0)])
async def test_the_other_transports_keep_to_theirs_over_tls(
    fake_llm: FakeLLM, start_server: ServerFactory, transport: str, detail: str,
    websocket_sessions: int,
) -> None:
    server = await start_server(tts="none")
    fake_llm.enqueue(Reply(chunks=["Assam."]))
    async with nginx_tls_proxy(server.port, "upgrade") as (url, ca):
        app = make_app(Settings(server=url, transport=transport, ca_file=ca, text_only=True),
                       player=FakePlayer(speed=0))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
            await ask(pilot, app, "A malty tea?")
            await wait_for(pilot, lambda: app.state == "idle" and len(fake_llm.chat_requests) == 1,
                           what="the answer")
            assert app.query(AssistantTurn).last().text == "Assam."
            assert app.status.link_detail == detail
            assert len(sessions(server)) == websocket_sessions


async def test_a_server_that_is_not_there_fails_the_first_question_in_plain_words() -> None:
    """The HTTP half is ready unchecked; its first request is the check, and says what failed."""
    url = (await refused_url()).removesuffix("/v1")
    app = make_app(Settings(server=url, transport="hybrid", text_only=True,
                            reconnect_max_delay=0.5), player=FakePlayer(speed=0))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected", what="ready at once")
        await ask(pilot, app, "Anyone?")
        await wait_for(pilot, lambda: app.link_state == "reconnecting", what="the link lost")
        assert app.state == "idle"
        assert "connection was lost" in app.query(AssistantTurn).last().note
        assert "nothing is listening" in app.status.details().lower()


def test_bad_transport_and_ca_file_are_refused_in_plain_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValidationError, match=r"cannot use .* as a CA file"):
        load_settings({"ca_file": tmp_path / "missing.pem"})
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ValidationError, match="as a CA file"):
        load_settings({"ca_file": tmp_path / "junk.pem"})
    with pytest.raises(SystemExit):
        main(["--transport", "carrier-pigeon"])
    assert "invalid choice: 'carrier-pigeon'" in capsys.readouterr().err
