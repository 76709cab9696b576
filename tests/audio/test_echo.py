"""Half-duplex holds: with the speaker's own sound as the microphone, hands-free mode hears
ten spoken answers and starts no turn of its own."""

from __future__ import annotations

import os

import pytest

from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.server import ServerFactory
from tests.helpers.tui_app import Recorder, ask
from tests.helpers.waiting import stays, wait_for
from tui.app import make_app
from tui.config import Settings
from tui.link.websocket import Connection

pytestmark = [pytest.mark.audio, pytest.mark.timeout(240)]

ANSWERS = 10


async def test_hands_free_never_hears_its_own_answers(
    null_sink: dict[str, str],
    fake_llm: FakeLLM,
    start_server: ServerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The microphone is the speaker sink's monitor: everything the app plays, it would hear.
    monkeypatch.setenv("PULSE_SOURCE", f"{os.environ['PULSE_SINK']}.monitor")
    server = await start_server(tts="espeak", espeak_rate=320, stt="faster-whisper")
    await server.listening_ready()
    for number in range(ANSWERS):
        fake_llm.enqueue(Reply(chunks=[f"This is spoken answer number {number + 1}. It ends now."]))
    heard = Recorder()
    app = make_app(Settings(server=server.ws_url, hands_free=True))
    async with app.run_test(size=(100, 30), message_hook=heard) as pilot:
        await wait_for(pilot, lambda: app.link_state == "connected" and app.audio_ok, timeout=20)
        await wait_for(pilot, lambda: app.can_listen, timeout=20, what="the server listens")
        for number in range(ANSWERS):
            await ask(pilot, app, f"Question {number + 1}?")
            # Spoken, played to its end; then hands-free opens the microphone again.
            await wait_for(pilot, lambda: app.state == "listening", timeout=30, what="listening")
            await pilot.press("escape")  # the person types the next question instead
            await wait_for(pilot, lambda: app.state == "idle", what="idle")
        # One more listening stretch, left open a while, with the last answer's tail around.
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.state == "listening", what="listening at the end")
        await stays(pilot, lambda: not heard.of(Connection.SpeechStarted), 2.0)
    assert len(fake_llm.chat_requests) == ANSWERS
    assert not heard.of(Connection.SpeechStarted), "the app heard its own voice"
    assert not heard.of(Connection.InputCommitted)
