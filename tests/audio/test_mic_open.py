"""A second open of a recording microphone starts no second stream that would go on recording."""

from __future__ import annotations

import os

import pytest

from tests.helpers.waiting import stays, wait_for
from tui.audio.mic import Microphone


async def test_opening_twice_then_closing_stops_recording(
    null_sink: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The null sink's monitor as the microphone: it delivers (silent) blocks while open.
    monkeypatch.setenv("PULSE_SOURCE", f"{os.environ['PULSE_SINK']}.monitor")
    mic = Microphone()
    mic.open()
    mic.open()  # as when two opens overlap: the same stream goes on
    await wait_for(None, mic.drain, what="the microphone records")
    mic.close()
    mic.drain()
    # Closed means closed: nothing keeps recording behind the app's back.
    await stays(None, lambda: not mic.drain(), 0.5)
