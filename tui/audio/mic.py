"""The microphone: PCM16 mono 24 kHz from a PortAudio input stream, open only while listening.

PortAudio's thread runs the callback, which only copies each block into a bounded
queue (as the player's callback only copies out); the app drains it every tick while
listening and sends the audio on. A device that cannot record at 24 kHz is opened at
its own rate and converted in ``drain``, off PortAudio's thread. Idle costs nothing:
the stream exists only between ``open`` and ``close``.
"""

from __future__ import annotations

import audioop
import threading
from collections import deque
from typing import Any

from server.protocol import PCM_RATE, PCM_SAMPLE_WIDTH
from tui.audio.player import load_sounddevice
from tui.errors import AudioUnavailable

MAX_TURN_S = 120
"""The longest turn kept (the server's per-turn cap): older blocks are dropped first."""
_BLOCK_MS = 20
_METER = "▁▂▃▄▅▆▇█"


def level(pcm: bytes) -> float:
    """How loud ``pcm`` is, 0 (silence) to 1 (full scale), from its RMS."""
    if len(pcm) < PCM_SAMPLE_WIDTH:
        return 0.0
    return min(1.0, audioop.rms(pcm[: len(pcm) // 2 * 2], PCM_SAMPLE_WIDTH) / 8192)


def meter(levels: list[float]) -> str:
    """A level meter in block characters, one per level."""
    top = len(_METER) - 1
    return "".join(_METER[min(top, round(value * top))] for value in levels)


class Microphone:
    """Records PCM16 mono 24 kHz while open; ``drain`` hands over what was recorded."""

    def __init__(self, device: str | int | None = None) -> None:
        self.device = device
        self._blocks: deque[bytes] = deque()
        self._held = 0
        self._lock = threading.Lock()
        self._stream: Any = None
        self._rate = PCM_RATE
        self._convert: Any = None  # audioop.ratecv state, when the device's rate is not ours
        self.overflows = 0

    def open(self) -> None:
        """Start recording (already recording: nothing); AudioUnavailable when there is none."""
        if self._stream is not None:  # a second stream would leave the first recording, unseen
            return
        sd = load_sounddevice()
        try:
            self._stream = self._start(sd, PCM_RATE)
        except sd.PortAudioError:
            try:  # the device has its own rate: record at it and convert in drain()
                info = sd.query_devices(self.device, "input")
                self._stream = self._start(sd, int(info["default_samplerate"]))
            except (sd.PortAudioError, ValueError) as exc:
                raise AudioUnavailable(f"No microphone could be opened ({exc}).") from None
        except ValueError as exc:  # no input device at all
            raise AudioUnavailable(f"No microphone could be opened ({exc}).") from None

    def _start(self, sd: Any, rate: int) -> Any:
        stream = sd.RawInputStream(
            samplerate=rate,
            channels=1,
            dtype="int16",
            blocksize=rate * _BLOCK_MS // 1000,
            device=self.device,
            callback=self._callback,
        )
        stream.start()
        self._rate, self._convert = rate, None
        return stream

    def close(self) -> None:
        """Stop recording and forget what was not drained."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
        with self._lock:
            self._blocks.clear()
            self._held = 0

    def drain(self) -> bytes:
        """Everything recorded since the last drain, as PCM16 mono 24 kHz."""
        with self._lock:
            pcm = b"".join(self._blocks)
            self._blocks.clear()
            self._held = 0
        if self._rate != PCM_RATE and pcm:
            pcm, self._convert = audioop.ratecv(
                pcm, PCM_SAMPLE_WIDTH, 1, self._rate, PCM_RATE, self._convert
            )
        return pcm

    def _callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        """PortAudio's thread: copy the block, nothing else."""
        if status:
            self.overflows += 1
        block = bytes(indata)
        with self._lock:
            self._blocks.append(block)
            self._held += len(block)
            while self._held > MAX_TURN_S * self._rate * PCM_SAMPLE_WIDTH:
                self._held -= len(self._blocks.popleft())
