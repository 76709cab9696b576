"""Talking to the real talkterm in tmux: a virtual microphone, words on screen, the answer heard.

The microphone is a second PulseAudio null sink whose monitor is the app's default source
(``PULSE_SOURCE``); ``paplay`` into it is a person speaking, with speech Piper made. The
companion server listens with its bundled recognizer; what the app plays is recorded off
the speaker sink.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.audio_rig import microphone, record, speak_into, wav_file
from tests.helpers.tmux import Tmux, talkterm_command
from tests.helpers.voice import silence, spoken, wer
from tests.helpers.waiting import wait_for

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.audio,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.timeout(240),
]

QUESTION = "What is the capital of France?"
ANSWER = "Paris is the capital of France. It lies on the Seine."


@pytest.fixture
async def talking(
    null_sink: dict[str, str], fake_llm: FakeLLM, tmp_path: Path
) -> AsyncIterator[tuple[Tmux, str]]:
    """talkterm in tmux with a virtual microphone; yields the session and the mic's sink."""
    (tmp_path / "config").mkdir()
    with microphone() as sink:
        audio_env = {k: os.environ[k] for k in ("PULSE_SERVER", "PULSE_SINK", "PULSE_SOURCE")}
        command = talkterm_command(
            tmp_path,
            TALKTERM_LLM_BASE_URL=fake_llm.base_url,
            TALKTERM_LLM_MODEL="fake-model",
            TALKTERM_TTS="espeak",
            **audio_env,
        )
        session = Tmux(f"talkterm-voice-{os.getpid()}-{tmp_path.name}", tmp_path / "state")
        await session.run("new-session", "-d", "-x", "110", "-y", "32", command)
        try:
            yield session, sink
        finally:
            await session.run("kill-server", check=False)


async def test_f4_the_words_appear_are_asked_and_the_answer_is_heard(
    fake_llm: FakeLLM, talking: tuple[Tmux, str], tmp_path: Path
) -> None:
    tmux, sink = talking
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER), delay=0.01))
    question = wav_file(tmp_path / "question.wav", silence(0.3) + await spoken(QUESTION))
    await tmux.wait_screen(r"● connected", timeout=60)
    await tmux.keys("F4")
    await tmux.wait_screen(r"listening")
    with record() as rec:
        await speak_into(sink, question)
        # The pause after speaking ends the turn by itself (server VAD); the words appear.
        await tmux.wait_screen(r"🎤 .*capital", timeout=30)
        await wait_for(None, lambda: fake_llm.chat_requests, timeout=30, what="the LLM asked")
        asked = fake_llm.chat_requests[-1].json["messages"][-1]["content"]
        assert wer(QUESTION, asked) <= 0.2, asked
        await tmux.wait_screen(r"Paris is the capital", timeout=30)
        await tmux.wait_screen(r"│ idle", timeout=60)
    assert rec.speech_ms() > 1000  # the answer was played on the speaker


async def test_f4_then_silence_asks_nothing_and_the_app_stays_ready(
    fake_llm: FakeLLM, talking: tuple[Tmux, str], tmp_path: Path
) -> None:
    tmux, sink = talking
    quiet = wav_file(tmp_path / "quiet.wav", silence(2.0))
    await tmux.wait_screen(r"● connected", timeout=60)
    await tmux.keys("F4")
    await tmux.wait_screen(r"listening")
    await speak_into(sink, quiet)
    await tmux.keys("F4")  # send it
    await tmux.wait_screen(r"didn't catch that", timeout=30)
    await tmux.wait_screen(r"│ idle")
    assert not fake_llm.chat_requests
    # Still ready: a typed question is answered.
    fake_llm.enqueue(Reply(chunks=["Yes."]))
    await tmux.keys("Still there?", "Enter")
    await tmux.wait_screen(r"Yes\.", timeout=30)
