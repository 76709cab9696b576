"""Echo cancellation, for real: the speaker sink's monitor is the microphone, so the app
hears every answer it plays. With echo cancellation on, hands-free keeps listening while
answers play; the answers alone start no turn, and a person speaking over one (Piper's
speech played into the same sink) stops it, is heard, and is answered."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.audio_rig import speak_into, wav_file
from tests.helpers.server_process import clean_env, ready_line, spawn
from tests.helpers.tui_app import Recorder, ask
from tests.helpers.voice import silence, spoken, wer
from tests.helpers.waiting import stays, wait_for
from tui.app import make_app
from tui.config import Settings
from tui.link.websocket import Connection
from tui.states import ResponseState
from tui.widgets.assistant_turn import AssistantTurn

pytest.importorskip("livekit.rtc", reason="the echo extra is not installed (pip install .[echo])")
pytestmark = [pytest.mark.audio, pytest.mark.timeout(300)]

ANSWERS = 3
ANSWER = (
    "Here is answer number {n}. The weather today is mild, with a light wind from the west. "
    "Clouds will gather in the afternoon, and there may be a little rain by the evening. "
    "Tomorrow should be brighter and a few degrees warmer."
)
QUESTION = "What time does the museum open on Sunday?"


def last_user_words(fake_llm: FakeLLM) -> str:
    """The newest user message the fake upstream was asked."""
    messages = fake_llm.chat_requests[-1].json["messages"]
    return str([m for m in messages if m["role"] == "user"][-1]["content"])


async def test_answers_alone_start_no_turn_and_a_voice_over_one_stops_it(
    null_sink: dict[str, str], fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    speaker = os.environ["PULSE_SINK"]
    monkeypatch.setenv("PULSE_SOURCE", f"{speaker}.monitor")  # the mic hears the speaker
    # Its own process, as the companion server is: in this one, its work held the player's
    # callback up for 60-120 ms at times, and the speaker's gaps moved the echo.
    env = clean_env(
        TALKTERM_LLM_BASE_URL=fake_llm.base_url,
        TALKTERM_LLM_MODEL="fake-model",
        TALKTERM_STT="faster-whisper",
    )
    server = await spawn("--port", "0", env=env, stderr=asyncio.subprocess.DEVNULL)
    try:
        url = (await ready_line(server, timeout=60))["listening"]
        await talk_over_answers(fake_llm, url, tmp_path)
    finally:
        server.terminate()
        await server.wait()


async def talk_over_answers(fake_llm: FakeLLM, url: str, tmp_path: Path) -> None:
    """Three answers alone, then a voice over the fourth, with the app on ``url``."""
    speaker = os.environ["PULSE_SINK"]
    for n in range(ANSWERS + 1):
        fake_llm.enqueue(Reply(chunks=[ANSWER.format(n=n + 1)]))
    fake_llm.enqueue(Reply(chunks=["It opens at ten."]))
    person = wav_file(tmp_path / "person.wav", await spoken(QUESTION) + silence(0.2))
    heard = Recorder()
    settings = Settings(server=url, hands_free=True, echo_cancellation=True)
    app = make_app(settings)
    async with app.run_test(size=(100, 30), message_hook=heard) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok, timeout=20)
        await wait_for(pilot, lambda: app.can_listen, timeout=20, what="the server listens")
        for n in range(ANSWERS):
            await ask(pilot, app, f"Question {n + 1}?")
            # The microphone stays open while the answer plays, through the canceller.
            await wait_for(pilot, lambda: app.barge_in, timeout=10, what="overhearing")
            # Played to its end with nothing heard; then hands-free is listening.
            await wait_for(pilot, lambda: app.state == ResponseState.LISTENING, timeout=60)
            assert not heard.of(Connection.SpeechStarted), f"answer {n + 1} started a turn"
            await pilot.press("escape")  # the person types the next question instead
            await wait_for(pilot, lambda: app.state == ResponseState.IDLE, what="idle")
        await stays(pilot, lambda: not heard.of(Connection.SpeechStarted), 1.0)

        # A person speaks over the next answer: it stops, and the words are heard.
        await ask(pilot, app, "And the weekend?")
        player = app.player
        assert player is not None
        await wait_for(pilot, lambda: app.barge_in and player.played_ms > 1500, timeout=30)
        await speak_into(speaker, person, volume=52000)
        await wait_for(pilot, lambda: heard.of(Connection.Heard), timeout=30, what="words")
        await wait_for(pilot, lambda: len(fake_llm.chat_requests) == ANSWERS + 2, timeout=30)
        # The talked-over answer was stopped as Esc stops one, after what had played.
        turns = list(app.query(AssistantTurn))
        assert [turn.mark for turn in turns] == [None] * ANSWERS + ["stopped", None]
        assert "stopped after" in turns[ANSWERS].note
        # The spoken question's answer plays to its end, and hands-free listens again.
        await wait_for(pilot, lambda: app.state == ResponseState.LISTENING, timeout=30)
        assert turns[-1].mark is None
    assert len(heard.of(Connection.SpeechStarted)) >= 1
    words = heard.of(Connection.Heard)[-1].transcript
    assert wer(QUESTION, words) <= 0.25, words
    assert wer(QUESTION, last_user_words(fake_llm)) <= 0.25
