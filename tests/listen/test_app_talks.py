"""The app talks to a real listening server: over the WebSocket (server VAD) and over HTTP
streaming behind a plain nginx (push-to-talk), with Piper speech from a stand-in microphone."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.mic import FakeMic
from tests.helpers.nginx import nginx_binary, nginx_proxy
from tests.helpers.player import FakePlayer
from tests.helpers.voice import silence, spoken, wer
from tests.helpers.waiting import wait_for
from tests.listen.conftest import Listener
from tui.app import Talkterm, make_app
from tui.config import Settings
from tui.widgets.transcript import UserTurn

QUESTION = "What is the capital of France?"


def app_on(url: str, mic: FakeMic, **settings: Any) -> Talkterm:
    return make_app(
        Settings(server=url, token="voice-token", reconnect_max_delay=0.5, text_only=True,
                 **settings),
        player=FakePlayer(speed=0),
        mic=mic,
    )


async def ask_aloud(app: Talkterm, pilot: Any, mic: FakeMic, fake_llm: FakeLLM, *,
                    send_key: str | None) -> str:
    """Press f4, say the question (then a pause), send it if asked to; what the LLM was asked."""
    await wait_for(pilot, lambda: app.link_state == "connected" and app.can_listen, timeout=20)
    await pilot.press("f4")
    await wait_for(pilot, lambda: app.state == "listening", what="listening")
    mic.say(silence(0.2) + await spoken(QUESTION) + silence(1.0))
    if send_key:
        await wait_for(pilot, lambda: mic.drained_all, what="the question recorded")
        await pilot.press(send_key)
    await wait_for(pilot, lambda: fake_llm.chat_requests, timeout=30, what="the LLM asked")
    turns = [t.prompt for t in app.query(UserTurn)]
    asked = str(fake_llm.chat_requests[-1].json["messages"][-1]["content"])
    assert turns and wer(QUESTION, turns[-1]) <= 0.2, turns
    return asked


async def test_the_app_talks_over_the_websocket_and_the_pause_sends_it(
    listening_server: Listener, fake_llm: FakeLLM
) -> None:
    server, _ = await listening_server()
    fake_llm.enqueue(Reply(chunks=["Paris."]))
    mic = FakeMic()
    app = app_on(server.ws_url, mic)
    async with app.run_test(size=(100, 30)) as pilot:
        asked = await ask_aloud(app, pilot, mic, fake_llm, send_key=None)
        await wait_for(pilot, lambda: app.state == "idle", what="answered")
    assert wer(QUESTION, asked) <= 0.2, asked


@pytest.mark.skipif(nginx_binary() is None and not os.environ.get("CI"), reason="needs nginx")
async def test_the_app_talks_over_http_streaming_push_to_talk(
    listening_server: Listener, fake_llm: FakeLLM
) -> None:
    server, _ = await listening_server()
    fake_llm.enqueue(Reply(chunks=["Paris."]))
    mic = FakeMic()
    async with nginx_proxy(server.port, "plain") as url:
        app = app_on(url, mic)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.status.link_detail == "HTTP streaming", timeout=20)
            assert app.push_to_talk
            asked = await ask_aloud(app, pilot, mic, fake_llm, send_key="f4")
            await wait_for(pilot, lambda: app.state == "idle", what="answered")
    assert wer(QUESTION, asked) <= 0.2, asked
