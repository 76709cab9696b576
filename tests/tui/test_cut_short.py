"""An answer the server cuts short (its length cap) is still heard to its last word."""

from __future__ import annotations

import contextlib

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.nginx import nginx_binary, nginx_proxy
from tests.helpers.player import FakePlayer
from tests.helpers.server import ServerFactory
from tests.helpers.texts import LONG
from tests.helpers.tui_app import ask
from tests.helpers.waiting import wait_for
from tui.app import make_app
from tui.config import Settings
from tui.widgets.assistant_turn import AssistantTurn

TOKENS = 4
CUT = TOKENS * 32  # the server's cut for an upstream that ignores max_tokens


@pytest.mark.parametrize("transport", ["websocket", "http"])
async def test_a_cut_answer_plays_out_then_says_it_was_cut(
    fake_llm: FakeLLM, start_server: ServerFactory, transport: str
) -> None:
    if transport == "http" and nginx_binary() is None:
        pytest.skip("needs nginx-light for a proxy that strips Upgrade")
    server = await start_server(tts="espeak", espeak_rate=400, max_output_tokens=TOKENS)
    # The upstream ignores max_tokens and would run on for minutes.
    fake_llm.enqueue(Reply(chunks=chunk_text(LONG * 20), delay=0.002))
    player = FakePlayer(speed=4.0)
    async with (
        nginx_proxy(server.port, "plain")
        if transport == "http"
        else contextlib.nullcontext(server.ws_url) as url
    ):
        app = make_app(Settings(server=url, reconnect_max_delay=0.5), player=player)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.link_state == "connected", what="connected")
            await ask(pilot, app, "Talk for ever")
            turn = app.query_one(AssistantTurn)
            await wait_for(pilot, lambda: turn.mark == "incomplete", timeout=30, what="the mark")
            # Everything sent was played; nothing was cut off in the middle.
            assert "stop" not in player.names()
            assert player.played_ms > 1000
            assert len(turn.text) == CUT and LONG.startswith(turn.text)
            assert "cut the answer short" in turn.note
            assert app.state == "idle"
