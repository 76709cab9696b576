"""The link on its own: backoff, frames turned into typed messages, a refused server."""

from __future__ import annotations

import random

import pytest

from server import protocol as p
from tests.fakes.llm_upstream import refused_url
from tests.helpers.player import FakePlayer
from tests.helpers.waiting import wait_for
from tui.app import make_app
from tui.config import Settings
from tui.link import backoff_delay
from tui.link.server_events import translate
from tui.link.websocket import Connection
from tui.widgets.status_line import StatusLine


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 15.0, rng) for n in range(12)]
    assert all(0 < d <= 15.0 for d in delays)
    assert delays[0] < 1.0 and max(delays[-4:]) > 7.0
    assert len({round(backoff_delay(5, 15.0, rng), 3) for _ in range(5)}) > 1


def test_server_frames_become_typed_messages() -> None:
    event = {"type": p.TRANSCRIPT_DELTA, "response_id": "r", "delta": "Hi", "seq": 7}
    assert translate(p.encode(event)) == (Connection.TextArrived("r", "Hi"), 7)
    frame = p.encode_audio_frame({"type": p.AUDIO_DELTA, "response_id": "r", "seq": 8}, b"\1\2")
    assert translate(frame) == (Connection.AudioArrived("r", b"\1\2"), 8)
    error, _ = translate(p.encode(p.error_event("upstream_timeout", "Too slow.")))
    assert error == Connection.ServerError("upstream_timeout", "Too slow.")
    done = {"type": p.RESPONSE_DONE, "response": {"id": "r", "status": "failed"}}
    assert translate(p.encode(done))[0] == Connection.ResponseFinished("r", "failed", {})
    assert translate(p.encode({"type": p.SESSION_UPDATED, "session": {}})) == (None, None)
    with pytest.raises(p.ProtocolError):
        translate(b"not a frame")


async def test_an_unreachable_server_is_said_in_plain_words() -> None:
    url = (await refused_url()).replace("http://", "ws://").replace("/v1", "/v1/realtime")
    app = make_app(Settings(server=url, reconnect_max_delay=0.5), player=FakePlayer())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.link_state == "reconnecting")
        status = app.query_one(StatusLine)
        assert "connection refused" in status.error and status.link_detail.startswith("in ")
        assert app.check_action("start", ()) is None
