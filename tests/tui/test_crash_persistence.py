"""A SIGKILLed talkterm loses at most the answer in flight; ``--continue`` brings the rest back.

The real ``talkterm`` runs in tmux with its own companion server and the fake LLM.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.tmux import Tmux, gone, talkterm_command
from tui.store import Store

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.timeout(120),
]

SLOW = "The kettle hums for a long while before it boils. " * 20


class Launcher:
    """Starts talkterm in fresh tmux servers that share one data dir; kills them at the end."""

    def __init__(self, fake_llm: FakeLLM, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.env = {
            "TALKTERM_LLM_BASE_URL": fake_llm.base_url,
            "TALKTERM_LLM_MODEL": "fake-model",
            "TALKTERM_TTS": "none",
        }
        self.sessions: list[Tmux] = []

    @property
    def db(self) -> Path:
        return self.tmp_path / "data" / "talkterm" / "talkterm.db"

    async def start(self, *args: str) -> Tmux:
        command = talkterm_command(self.tmp_path, *args, **self.env)
        name = f"talkterm-crash-{os.getpid()}-{self.tmp_path.name}-{len(self.sessions)}"
        session = Tmux(name, self.tmp_path / "state")
        self.sessions.append(session)
        await session.run("new-session", "-d", "-x", "110", "-y", "32", command)
        return session


@pytest.fixture
async def launcher(fake_llm: FakeLLM, tmp_path: Path) -> AsyncIterator[Launcher]:
    (tmp_path / "config").mkdir()
    launch = Launcher(fake_llm, tmp_path)
    try:
        yield launch
    finally:
        for session in launch.sessions:
            await session.run("kill-server", check=False)


def turns(db: Path) -> list[tuple[str, str, str]]:
    with Store(db) as store:
        last = store.last()
        return [] if last is None else [(t.role, t.status, t.text) for t in last.turns]


async def test_sigkill_mid_answer_keeps_the_question_and_continue_reopens_it(
    fake_llm: FakeLLM, launcher: Launcher
) -> None:
    fake_llm.enqueue(
        Reply(chunks=["Short answer."]),
        Reply(chunks=chunk_text(SLOW), delay=0.1),
        Reply(chunks=["Back again."]),
    )
    first = await launcher.start()
    await first.wait_screen(r"● connected")
    await first.keys("First question?")
    await first.keys("Enter")
    await first.wait_screen(r"Short answer\.")
    # The status line may wrap before "idle" (with a sound device it is longer).
    await first.wait_screen(r"(│ |\n )idle\b")
    await first.keys("Second question?")
    await first.keys("Enter")
    await first.wait_screen(r"The kettle hums")
    app_pid = int((await first.run("display-message", "-p", "#{pane_pid}")).strip())
    os.kill(app_pid, signal.SIGKILL)
    assert await gone(app_pid), "talkterm survived SIGKILL"

    assert turns(launcher.db) == [
        ("user", "complete", "First question?"),
        ("assistant", "complete", "Short answer."),
        ("user", "complete", "Second question?"),
    ]

    again = await launcher.start("--continue")
    screen = await again.wait_screen(r"● connected")
    await again.wait_screen(r"Second question\?")
    assert "Short answer." in await again.screen()
    await again.keys("Third?")
    await again.keys("Enter")
    await again.wait_screen(r"Back again\.")
    sent = [(m["role"], m["content"]) for m in fake_llm.chat_requests[-1].json["messages"]]
    assert [m for m in sent if m[0] != "system"] == [
        ("user", "First question?"),
        ("assistant", "Short answer."),
        ("user", "Second question?"),
        ("user", "Third?"),
    ]
    assert screen
