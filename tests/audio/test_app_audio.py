"""End to end: the app, the real server, real espeak-ng, real playback recorded off the sink."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.audio_rig import record
from tests.helpers.recording import Recording
from tests.helpers.server import ServerFactory
from tests.helpers.tui_app import ask
from tests.helpers.waiting import wait_for
from tui.app import Talkterm, make_app
from tui.audio.player import Player
from tui.config import Settings

pytestmark = pytest.mark.audio

ANSWER = (
    "Here is a short answer, spoken aloud. It has three sentences, so it lasts a few seconds. "
    "That is long enough to pause it, and to stop it."
)
EDGE_MS = 50  # the capture's own jitter at stream edges


async def speak(
    server_url: str,
    fake_llm: FakeLLM,
    during: Callable[[Any, Talkterm, Recording], Any] | None = None,
) -> tuple[Recording, dict[str, float]]:
    """Ask once with the real player; run ``during`` mid-answer; return the recording."""
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER), delay=0.01))
    app = make_app(Settings(server=server_url))
    marks: dict[str, float] = {}
    with record() as rec:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)
            await ask(pilot, app, "Say something")
            if during is not None:
                marks = await during(pilot, app, rec)
            await wait_for(pilot, lambda: app.state == "idle", timeout=30, what="answer over")
            await pilot.pause(0.2)
    return rec, marks


async def test_speech_plays_pauses_and_loses_nothing(
    null_sink: dict[str, str], fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server()
    plain, _ = await speak(server.ws_url, fake_llm)
    spoken = plain.speech_ms()
    assert 3000 < spoken < 15000, "speech present, of plausible length"

    async def pause_then_resume(pilot: Any, app: Talkterm, rec: Recording) -> dict[str, float]:
        await wait_for(pilot, lambda: app.player is not None and app.player.played_ms > 1200)
        await pilot.press("ctrl+o")
        await pilot.pause(1.0)
        await pilot.press("ctrl+r")
        return {}

    paused, _ = await speak(server.ws_url, fake_llm, pause_then_resume)
    gaps = paused.silent_gaps(800)
    assert len(gaps) == 1, f"one long silence where the pause was, got {gaps}"
    assert abs(paused.speech_ms() - spoken) <= max(150, 0.05 * spoken), "no speech lost"


@pytest.mark.parametrize("key", ["ctrl+g", "escape"])
async def test_stop_is_silence_within_50_ms(
    null_sink: dict[str, str], fake_llm: FakeLLM, start_server: ServerFactory, key: str
) -> None:
    server = await start_server()

    async def stop(pilot: Any, app: Talkterm, rec: Recording) -> dict[str, float]:
        await wait_for(pilot, lambda: app.player is not None and app.player.played_ms > 1200)
        pressed = time.monotonic()
        await pilot.press(key)
        return {"pressed": rec.ms_at(pressed)}

    rec, marks = await speak(server.ws_url, fake_llm, stop)
    last = rec.last_sound_ms()
    assert last is not None and last > 1000
    assert last - marks["pressed"] <= 50 + EDGE_MS


async def test_idle_app_rests_its_stream_and_still_speaks_every_answer_whole(
    null_sink: dict[str, str], fake_llm: FakeLLM, start_server: ServerFactory
) -> None:
    server = await start_server()
    short = "A short answer, spoken aloud."
    player = Player(rest_after_ms=200)
    app = make_app(Settings(server=server.ws_url), player=player)
    heard = []
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok)
        for question in ("First?", "Second?"):
            await wait_for(pilot, lambda: not player.running, what="the stream resting")
            fake_llm.enqueue(Reply(chunks=chunk_text(short), delay=0.01))
            with record() as rec:
                await ask(pilot, app, question)
                await wait_for(pilot, lambda: app.state == "idle", timeout=30, what="answer over")
                await pilot.pause(0.3)
            heard.append(rec.speech_ms())
    assert heard[0] > 800, "the first answer was heard"
    assert abs(heard[1] - heard[0]) <= 100, f"both answers heard whole: {heard}"
