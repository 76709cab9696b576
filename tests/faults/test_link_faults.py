"""The link between app and server breaks; the answer survives (real sockets, real server)."""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.fakes.tcp_proxy import TcpProxy
from tests.helpers.player import FakePlayer
from tests.helpers.server import ServerFactory
from tests.helpers.tui_app import Recorder, ask
from tests.helpers.waiting import wait_for
from tui.app import make_app
from tui.config import Settings
from tui.link.websocket import Connection

ANSWER = (
    "The first thing to know is that tea leaves need hot water. Green tea likes it cooler, "
    "around eighty degrees. Black tea wants it boiling. Steep for three to five minutes, "
    "then take the leaves out, or the tea turns bitter."
)


def proxied_app(proxy: TcpProxy, player: FakePlayer, **settings: Any):
    return make_app(
        Settings(server=proxy.url(), reconnect_max_delay=0.3, **settings), player=player
    )


def fed_bytes(player: FakePlayer) -> int:
    return sum(n for name, n in player.calls if name == "feed")


async def run_answer(app, player: FakePlayer, fault=None, hook=None) -> tuple[str, int, str | None]:
    """Ask, maybe break the link mid-answer; return (transcript, audio bytes fed, mark)."""
    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        # Voice answers need the player open; until then a prompt would get text only.
        await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)
        await ask(pilot, app, "How do I make tea?")
        if fault is not None:
            try:
                await wait_for(pilot, lambda: app.answer and app.answer.audio_seen, what="audio")
            except AssertionError:
                a = app.answer
                seen = a and (a.voice, a.done, a.turn.text[:40])
                raise AssertionError(
                    f"no audio: state={app.state} answer={seen} history={app.history}"
                    f" link={app.link_state} audio_ok={app.audio_ok}"
                ) from None
            await fault(pilot)
        await wait_for(pilot, lambda: app.state == "idle", timeout=30, what="answer finished")
        return app.history[-1][1], fed_bytes(player), app.query("AssistantTurn").last().mark


async def test_cut_mid_answer_resumes_with_nothing_lost(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server()
    async with TcpProxy(server.port) as proxy:
        fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER), delay=0.02))
        whole = FakePlayer(speed=20)
        reference = await run_answer(proxied_app(proxy, whole), whole)

        # Slower upstream: the cut surely lands while the answer is still being written.
        fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER), delay=0.05))
        player = FakePlayer(speed=20)
        app = proxied_app(proxy, player)
        recorder = Recorder()

        async def cut(pilot) -> None:
            proxy.cut()
            await wait_for(pilot, lambda: app.link_state == "reconnecting", what="noticed")

        cut_run = await run_answer(app, player, cut, recorder)
    assert reference[0] == ANSWER and reference[1] > 0
    # Same transcript, same number of audio bytes, and finished normally (no mark).
    assert cut_run == reference
    assert proxy.connections >= 3
    assert recorder.of(Connection.SessionResumed), "the session was resumed, not replaced"


async def test_stall_is_noticed_by_both_sides_within_two_ping_intervals(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    interval = 1.0
    server = await start_server(
        tts="none", ping_interval=interval, ping_timeout=0.5, close_timeout=0.3
    )
    async with TcpProxy(server.port) as proxy:
        fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER * 3), delay=0.05))
        player = FakePlayer()
        app = proxied_app(proxy, player, ping_interval=interval, ping_timeout=0.5)
        lost: list[float] = []

        def hook(message: Any) -> None:
            if isinstance(message, Connection.Lost):
                lost.append(time.monotonic())

        async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
            await wait_for(pilot, lambda: app.link_state == "connected")
            await ask(pilot, app, "talk")
            await wait_for(pilot, lambda: app.answer and app.answer.turn.text, what="text")
            assert server.services is not None
            session = next(iter(server.services.sessions.values()))
            stalled_at = time.monotonic()
            proxy.stall()
            await wait_for(pilot, lambda: session.outlet.ws is None, timeout=5, what="server")
            server_noticed = time.monotonic() - stalled_at
            await wait_for(pilot, lambda: bool(lost), timeout=5, what="client noticed")
            client_noticed = lost[0] - stalled_at
            assert server_noticed <= 2 * interval
            assert client_noticed <= 2 * interval
            # Once the stalled connection is gone the app resumes and the answer completes.
            proxy.cut()
            await wait_for(pilot, lambda: app.state == "idle", timeout=30, what="finished")
            assert app.history[-1][1] == ANSWER * 3
