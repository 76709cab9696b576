"""Failures as the person at the terminal meets them: a clear word, nothing lost, carry on."""

from __future__ import annotations

import asyncio
import signal
import socket
import stat
from pathlib import Path

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.player import FakePlayer
from tests.helpers.server import ServerFactory
from tests.helpers.server_process import ready_line, spawn
from tests.helpers.tui_app import ask, server_app
from tests.helpers.waiting import wait_for
from tui.app import make_app
from tui.config import Settings
from tui.widgets.assistant_turn import AssistantTurn
from tui.widgets.status_line import StatusLine

PARTIAL = "One, two, three. Four, five, six. Seven, eight, nine. Ten."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def spawn_server(port: int, fake: FakeLLM) -> asyncio.subprocess.Process:
    proc = await spawn(
        "--port",
        str(port),
        "--tts",
        "none",
        "--llm-base-url",
        fake.base_url,
        "--llm-model",
        "m",
        stderr=asyncio.subprocess.DEVNULL,
    )
    await ready_line(proc)
    return proc


async def test_server_killed_and_restarted(fake_llm: FakeLLM) -> None:
    port = free_port()
    proc = await spawn_server(port, fake_llm)
    fake_llm.enqueue(Reply(chunks=chunk_text(PARTIAL * 10), delay=0.03))
    app = make_app(
        Settings(server=f"ws://127.0.0.1:{port}/v1/realtime", reconnect_max_delay=0.3),
        player=FakePlayer(),
    )
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.link_state == "connected")
            await ask(pilot, app, "count")
            await wait_for(pilot, lambda: app.answer and len(app.answer.turn.text) > 20)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await wait_for(pilot, lambda: app.link_state == "reconnecting", what="noticed")
            proc = await spawn_server(port, fake_llm)
            await wait_for(pilot, lambda: app.state == "idle", timeout=15, what="interrupted")
            turn = app.query(AssistantTurn).last()
            assert turn.mark == "interrupted" and turn.text
            fake_llm.enqueue(Reply(chunks=["Still here."]))
            await ask(pilot, app, "hello?")
            await wait_for(
                pilot, lambda: app.state == "idle" and app.history[-1][1] == "Still here."
            )
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


UPSTREAM_FAULTS = [
    ("401", Reply(status=401, body='{"error": {"message": "Incorrect API key"}}'), "key", False),
    (
        "404",
        Reply(status=404, body='{"error": {"message": "model m not found"}}'),
        "not found",
        False,
    ),
    ("429", Reply(status=429, headers={"Retry-After": "9"}, body="{}"), "9", False),
    ("503", Reply(status=503, body="down"), "503", False),
    ("cut", Reply(chunks=chunk_text(PARTIAL), fault="cut", cut_after=6), "cut", True),
    ("stall", Reply(chunks=chunk_text(PARTIAL), fault="stall", cut_after=6), "went silent", True),
    (
        "malformed",
        Reply(chunks=chunk_text(PARTIAL), fault="malformed", cut_after=6),
        "not valid JSON",
        True,
    ),
]
# Every case names words the person reads: an empty string would be in any text.
assert all(words for _, _, words, _ in UPSTREAM_FAULTS)


@pytest.mark.parametrize(
    ("name", "reply", "words", "partial"), UPSTREAM_FAULTS, ids=[f[0] for f in UPSTREAM_FAULTS]
)
async def test_upstream_fault_is_explained_and_the_next_prompt_works(
    fake_llm: FakeLLM,
    start_server: ServerFactory,
    name: str,
    reply: Reply,
    words: str,
    partial: bool,
) -> None:
    server = await start_server(tts="none", read_timeout=0.5)
    app = server_app(server, FakePlayer())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        fake_llm.enqueue(reply)
        await ask(pilot, app, "count")
        await wait_for(pilot, lambda: app.state == "idle", what="failed answer")
        turn = app.query(AssistantTurn).last()
        assert turn.mark == "failed"
        error = app.query_one(StatusLine).error
        assert error and words.lower() in (error + turn.note).lower()
        if partial:
            assert turn.text and PARTIAL.startswith(turn.text)
        fake_llm.enqueue(Reply(chunks=["Recovered."]))
        await ask(pilot, app, "again")
        await wait_for(pilot, lambda: app.state == "idle" and app.history[-1][1] == "Recovered.")
        assert app.query(AssistantTurn).last().mark is None


async def test_missing_espeak_is_explained_and_text_continues(
    fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server(espeak_executable="no-such-espeak")
    app = server_app(server, FakePlayer())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        await wait_for(pilot, lambda: "espeak" in app.query_one(StatusLine).error, what="told")
        fake_llm.enqueue(Reply(chunks=chunk_text(PARTIAL)))
        await ask(pilot, app, "count")
        await wait_for(pilot, lambda: app.state == "idle")
        assert app.history[-1][1] == PARTIAL


async def test_espeak_crash_is_explained_and_text_continues(
    fake_llm: FakeLLM, start_server: ServerFactory, tmp_path: Path
) -> None:
    crashing = tmp_path / "espeak-ng"
    crashing.write_text("#!/bin/sh\necho 'espeak crashed' >&2\nexit 139\n")
    crashing.chmod(crashing.stat().st_mode | stat.S_IEXEC)
    server = await start_server(espeak_executable=str(crashing))
    app = server_app(server, FakePlayer())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected")
        fake_llm.enqueue(Reply(chunks=chunk_text(PARTIAL)))
        await ask(pilot, app, "count")
        await wait_for(pilot, lambda: app.state == "idle")
        assert app.history[-1][1] == PARTIAL
        assert "text only" in app.query_one(StatusLine).error
