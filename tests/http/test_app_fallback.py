"""The app behind a proxy that strips Upgrade: it falls back to HTTP streaming by itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.nginx import nginx_binary, nginx_proxy
from tests.helpers.player import FakePlayer
from tests.helpers.server import ServerFactory
from tests.helpers.tui_app import Recorder, ask, open_older_chat
from tests.helpers.waiting import wait_for
from tui.app import make_app
from tui.config import Settings, websocket_url
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


def test_server_accepts_every_url_form() -> None:
    assert websocket_url("ws://h:1/v1/realtime") == "ws://h:1/v1/realtime"
    assert websocket_url("http://h:1") == "ws://h:1/v1/realtime"
    assert websocket_url("https://h") == "wss://h/v1/realtime"
    assert websocket_url("h:8765") == "ws://h:8765/v1/realtime"
    with pytest.raises(ValueError):
        websocket_url("ftp://h")


async def test_app_answers_and_speaks_through_plain_nginx(
    fake_llm: FakeLLM, speaking_server: Server
) -> None:
    fake_llm.enqueue(
        Reply(chunks=chunk_text("Tea is ready. Enjoy it."), delay=0.01),
        # Still streaming (about 10 s) when Stop comes, however slow the machine.
        Reply(chunks=chunk_text(LONG * 4), delay=0.02),
        Reply(chunks=["Fine."]),
    )
    player = FakePlayer(speed=1.0)
    recorder = Recorder()
    async with nginx_proxy(speaking_server.port, "plain") as url:
        app = make_app(Settings(server=url, reconnect_max_delay=0.5), player=player)
        async with app.run_test(size=(100, 30), message_hook=recorder) as pilot:
            await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
            assert app.status.link_detail == "HTTP streaming"
            await ask(pilot, app, "tea?")
            await wait_for(pilot, lambda: app.state == "idle" and player.played_ms > 300,
                           what="a spoken answer")
            assert app.query(AssistantTurn).last().text == "Tea is ready. Enjoy it."

            # Pause is local; Stop closes the request and keeps only what was heard.
            await ask(pilot, app, "more?")
            await wait_for(pilot, lambda: player.played_ms > 1500, what="second answer speaking")
            await pilot.press("ctrl+o")
            assert app.state == "paused" and player.paused
            await wait_for(pilot, lambda: recorder.of(Connection.ResponsePaused), what="paused")
            await pilot.press("ctrl+r")
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: app.state == "idle", what="idle after stop")
            await fake_llm.wait_disconnect(timeout=5)
            # The app keeps (and stores) the same heard part the link remembers, not nothing.
            kept = app.history[-1][1]
            assert app.history[-1][0] == "assistant" and 0 < len(kept) < len(LONG.strip())

            await ask(pilot, app, "and?")
            await wait_for(pilot, lambda: len(fake_llm.chat_requests) == 3, what="third request")
    history = fake_llm.chat_requests[-1].json["messages"]
    said = [m["content"] for m in history if m["role"] == "assistant"]
    assert said[0] == "Tea is ready. Enjoy it."
    # Only what was heard of the stopped answer is remembered.
    assert 0 < len(said[1]) < len(LONG.strip())
    assert LONG.startswith(said[1]) and LONG.startswith(kept)


async def test_new_and_reopened_conversations_over_http(
    fake_llm: FakeLLM, start_server: ServerFactory, tmp_path: Path
) -> None:
    server = await start_server(tts="none")
    fake_llm.enqueue(Reply(chunks=["Oolong."]), Reply(chunks=["Rooibos."]), Reply(chunks=["Ok."]))
    async with nginx_proxy(server.port, "plain") as url:
        settings = Settings(server=url, store_file=tmp_path / "chats.db", text_only=True)
        app = make_app(settings, player=FakePlayer(speed=0))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.status.link_detail == "HTTP streaming", what="HTTP")
            await ask(pilot, app, "A dark tea?")
            await wait_for(pilot, lambda: len(fake_llm.chat_requests) == 1, what="first answer")
            await wait_for(pilot, lambda: app.state == "idle", what="idle")

            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: not app.query(UserTurn), what="empty transcript")
            await ask(pilot, app, "A red tea?")
            await wait_for(pilot, lambda: len(fake_llm.chat_requests) == 2, what="second answer")
            await wait_for(pilot, lambda: app.state == "idle", what="idle")
            # The new conversation carries nothing of the first.
            assert said(fake_llm) == [("user", "A red tea?")]

            await open_older_chat(pilot, app, ["A dark tea?"])
            await ask(pilot, app, "Stronger?")
            await wait_for(pilot, lambda: len(fake_llm.chat_requests) == 3, what="third answer")
    assert said(fake_llm) == [
        ("user", "A dark tea?"),
        ("assistant", "Oolong."),
        ("user", "Stronger?"),
    ]


def said(fake_llm: FakeLLM) -> list[tuple[str, str]]:
    """The conversation of the last request the LLM saw, without the system prompt."""
    messages = fake_llm.chat_requests[-1].json["messages"]
    return [(m["role"], m["content"]) for m in messages if m["role"] != "system"]


async def spoken_answer(url: str, preferences: dict[str, object]) -> tuple[float, str]:
    """Ask once through ``url`` with ``preferences``: (ms of speech played, the answer's text)."""
    player = FakePlayer(speed=20.0)  # plays 20× faster than real time
    app = make_app(
        Settings(server=url, reconnect_max_delay=0.5, preferences=preferences), player=player
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.status.link_detail == "HTTP streaming", what="HTTP")
        # The settings screen can list what the upstream offers.
        assert app.preferences.models == ["fake-model", "other-model"]
        await ask(pilot, app, "Count.")
        await wait_for(pilot, lambda: app.state == "idle", what="answered")
        return player.played_ms, app.query(AssistantTurn).last().text


async def test_settings_reach_the_answers_over_http_through_nginx(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    """Model, system prompt, voice and speaking rate chosen in the app apply over HTTP too."""
    fake_llm.models = ["fake-model", "other-model"]
    server = await start_server(tts="espeak")
    words = "One two three four five six seven eight nine ten eleven twelve."
    fake_llm.enqueue(Reply(chunks=[words]), Reply(chunks=[words]))
    chosen = {"model": "other-model", "instructions": "Answer like a pirate.", "voice": "en-gb",
              "speed": 1.5}
    async with nginx_proxy(server.port, "plain") as url:
        fast, text = await spoken_answer(url, chosen)
        assert text == words
        first = fake_llm.chat_requests[-1].json
        normal, _ = await spoken_answer(url, {})
        second = fake_llm.chat_requests[-1].json
    assert first["model"] == "other-model"
    assert first["messages"][0] == {"role": "system", "content": "Answer like a pirate."}
    assert second["model"] == "fake-model" and "pirate" not in str(second["messages"])
    # Faster speech: the same words take clearly less time at 1.5.
    assert 0 < fast < 0.85 * normal, (fast, normal)
