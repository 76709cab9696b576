"""Smoke test: the real ``talkterm`` in tmux, started as the README says, read off the screen.

talkterm starts its own companion server; the server is pointed at the fake
LLM through its environment. After each way of ending talkterm (ctrl+q,
``tmux kill-server``, SIGKILL) no server process may be left running.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.tmux import Tmux, gone, running, talkterm_command
from tests.helpers.waiting import wait_for

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.timeout(120),
]

ANSWER = "Tea is a drink made from leaves. You steep them in hot water. " * 8


@pytest.fixture
async def tmux(fake_llm: FakeLLM, tmp_path: Path) -> AsyncIterator[Tmux]:
    """talkterm running in a fresh tmux server; the tmux server is killed at the end."""
    (tmp_path / "config").mkdir()
    command = talkterm_command(
        tmp_path,
        TALKTERM_LLM_BASE_URL=fake_llm.base_url,
        TALKTERM_LLM_MODEL="fake-model",
        TALKTERM_TTS="espeak" if shutil.which("espeak-ng") else "none",
    )
    session = Tmux(f"talkterm-test-{os.getpid()}-{tmp_path.name}", tmp_path / "state")
    await session.run("new-session", "-d", "-x", "110", "-y", "32", command)
    try:
        yield session
    finally:
        await session.run("kill-server", check=False)


async def test_ask_pause_resume_stop_and_quit(fake_llm: FakeLLM, tmux: Tmux) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER), delay=0.03), Reply(chunks=["Short one."]))
    screen = await tmux.wait_screen(r"● connected")
    assert "⏎ Send" in screen and "esc Stop" in screen and "^q Quit" in screen
    server = await tmux.server_pid()
    assert running(server)

    await tmux.keys("What is tea?")
    await tmux.keys("Enter")
    await tmux.wait_screen(r"Tea is a drink made from leaves")
    await tmux.wait_screen(r"│ streaming")
    await tmux.keys("C-o")
    await tmux.wait_screen(r"‖ paused")
    await tmux.keys("F5")  # the toggle resumes
    await tmux.wait_screen(r"│ streaming")
    await tmux.keys("Escape")
    await tmux.wait_screen(r"■ stopped")
    await tmux.wait_screen(r"│ idle")

    # A multi-line paste (bracketed, as tmux pastes for an app that asks for it) is not sent
    # early: the one request that follows Enter carries both lines.
    asked = len(fake_llm.chat_requests)
    await tmux.run("set-buffer", "And briefly?\nIn one line.")
    await tmux.run("paste-buffer", "-p")
    await tmux.wait_screen(r"In one line\.")
    await tmux.keys("Enter")
    await tmux.wait_screen(r"Short one\.")
    assert len(fake_llm.chat_requests) == asked + 1
    question = fake_llm.chat_requests[-1].json["messages"][-1]["content"]
    assert question == "And briefly?\nIn one line."

    await tmux.keys("C-q")
    assert await gone(server), "the companion server outlived talkterm's quit"
    # The app writes that line once it has reaped the server: a moment after it is gone.
    await wait_for(None, lambda: "companion server stopped" in tmux.log.read_text(), what="log")
    log = tmux.log.read_text()
    assert "TALKTERM_TOKEN" not in log and not re.search(r"Bearer \S", log)


async def test_no_server_is_left_after_tmux_kill_server(tmux: Tmux) -> None:
    await tmux.wait_screen(r"● connected")
    server = await tmux.server_pid()
    app_pid = int((await tmux.run("display-message", "-p", "#{pane_pid}")).strip())
    await tmux.run("kill-server")
    assert await gone(app_pid), "talkterm survived tmux kill-server"
    assert await gone(server), "the companion server outlived tmux kill-server"


async def test_no_server_is_left_after_sigkill(tmux: Tmux) -> None:
    await tmux.wait_screen(r"● connected")
    server = await tmux.server_pid()
    app_pid = int((await tmux.run("display-message", "-p", "#{pane_pid}")).strip())
    cmdline = await asyncio.to_thread(Path(f"/proc/{app_pid}/cmdline").read_text)
    assert "talkterm" in cmdline
    os.kill(app_pid, signal.SIGKILL)
    assert await gone(server), "the companion server outlived a SIGKILLed talkterm"


async def test_a_newcomer_at_80_columns_sees_the_whole_greeting(tmp_path: Path) -> None:
    """No LLM configured: the demo hint wraps, and every word of it is on screen."""
    command = talkterm_command(tmp_path, "--text-only", TALKTERM_TTS="none")
    session = Tmux(f"talkterm-greet-{os.getpid()}-{tmp_path.name}", tmp_path / "state")
    await session.run("new-session", "-d", "-x", "80", "-y", "24", command)
    try:
        screen = await session.wait_screen(r"demo responder")
        screen = await session.wait_screen(r"then restart\.")
        assert "Type a question and press Enter" in screen
        assert "^q Quit" in screen
    finally:
        await session.run("kill-server", check=False)
