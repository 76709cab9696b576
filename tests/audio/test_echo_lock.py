"""The speaker's callback never waits while the canceller builds a fresh AEC3.

livekit is an optional extra (absent here): its ``rtc`` module is stood in for by a stub
whose AudioProcessingModule calls ``played`` from another thread, as PortAudio's callback
would, while it is being built.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from tui.audio import echo
from tui.audio.echo import FRAME_BYTES, EchoCanceller


class _Frame:
    def __init__(self, data: bytes, *_: Any) -> None:
        self.data = data


def test_played_goes_through_while_a_fresh_canceller_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canceller: EchoCanceller | None = None
    waited: list[bool] = []

    def build(**_: Any) -> Any:
        if canceller is not None:  # a rebuild, not the first: the speaker plays meanwhile
            callback = threading.Thread(target=canceller.played, args=(bytes(FRAME_BYTES),))
            callback.start()
            callback.join(5)
            waited.append(callback.is_alive())
        return SimpleNamespace(
            process_reverse_stream=lambda frame: None,
            set_stream_delay_ms=lambda ms: None,
            process_stream=lambda frame: None,
        )

    rtc = SimpleNamespace(AudioProcessingModule=build, AudioFrame=_Frame)
    monkeypatch.setattr(echo, "load_apm", lambda: rtc)
    canceller = EchoCanceller()
    canceller.played(bytes(10 * FRAME_BYTES))
    canceller.restart()  # the microphone opens: the next drain pairs afresh
    assert len(canceller.clean(bytes(10 * FRAME_BYTES))) == 10 * FRAME_BYTES
    assert waited == [False]  # built once, and the callback did not wait for it
