"""Audio playback: PCM16 mono 24 kHz from a buffer to a PortAudio output stream.

Other threads (the network worker, the UI) call ``begin``/``feed``/``pause``/
``stop``; PortAudio's own thread runs the callback, which only copies ready
bytes out of the buffer under a short lock and pads with silence. Decoding
happens before ``feed`` (see ``tui.decoder``), never in the callback.

Each response has a *generation* number chosen by the caller; audio fed for
any generation but the current one is dropped, so late frames of a stopped
response never play.
"""

from __future__ import annotations

import threading
from collections import deque
from types import ModuleType, TracebackType
from typing import Any

from server.protocol import PCM_SAMPLE_WIDTH

# Bytes per frame: mono, 16-bit.
_FRAME = PCM_SAMPLE_WIDTH
# Callbacks remembered for placing the speaker in the stream; must cover the
# output latency (tens of ms) many times over.
_MARKS = 32


class AudioUnavailable(Exception):
    """No output device / PortAudio missing; message in plain words."""


def _sounddevice() -> ModuleType:
    """Import sounddevice late: importing it raises OSError without libportaudio."""
    try:
        import sounddevice
    except (OSError, ImportError) as exc:
        raise AudioUnavailable(
            f"Audio is unavailable: the PortAudio library could not be loaded ({exc}). "
            "Install it (Debian/Ubuntu: apt-get install libportaudio2)."
        ) from None
    return sounddevice


def list_devices() -> list[tuple[int, str]]:
    """Return the output devices as (index, name) pairs."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as exc:
        raise AudioUnavailable(
            f"Audio is unavailable: PortAudio could not list devices ({exc})."
        ) from None
    return [(d["index"], d["name"]) for d in devices if d["max_output_channels"] > 0]


def _resolve_device(device: str | int | None) -> int | None:
    """Map a device index or name substring to a PortAudio output device index."""
    outputs = list_devices()
    if not outputs:
        raise AudioUnavailable("No audio output device was found.")
    if device is None:
        return None
    if isinstance(device, int):
        if any(index == device for index, _ in outputs):
            return device
        raise AudioUnavailable(
            f"There is no audio output device number {device}. {_choices(outputs)}"
        )
    wanted = device.casefold()
    matches = [index for index, name in outputs if wanted in name.casefold()]
    if not matches:
        raise AudioUnavailable(
            f"No audio output device is named like {device!r}. {_choices(outputs)}"
        )
    return matches[0]


def _choices(outputs: list[tuple[int, str]]) -> str:
    names = ", ".join(f"{index}: {name}" for index, name in outputs)
    return f"Available outputs: {names}."


class Player:
    """Plays PCM16 mono responses, one generation at a time, with exact sample counting."""

    def __init__(
        self, *, device: str | int | None = None, samplerate: int = 24000, block_ms: int = 20
    ) -> None:
        if samplerate <= 0 or block_ms <= 0:
            raise ValueError("samplerate and block_ms must be positive")
        self.device = device
        self.samplerate = samplerate
        self.block_ms = block_ms
        self.blocksize = samplerate * block_ms // 1000
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._generation: int | None = None
        # False once stop() ran: late frames of the same generation must stay silent.
        self._accepting = False
        self._paused = False
        self._finished = False
        # Set while the callback keeps finding the buffer dry, so one gap counts once.
        self._starved = False
        self._played_frames = 0
        self._underruns = 0
        # (DAC time, frames played before the block, audio frames in it), per callback.
        self._marks: deque[tuple[float, int, int]] = deque(maxlen=_MARKS)
        self._stream: Any = None

    def __enter__(self) -> Player:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Start the output stream; raises AudioUnavailable if there is nowhere to play."""
        if self._stream is not None:
            return
        sd = _sounddevice()
        index = _resolve_device(self.device)
        try:
            stream = sd.RawOutputStream(
                samplerate=self.samplerate,
                blocksize=self.blocksize,
                device=index,
                channels=1,
                dtype="int16",
                latency="low",
                callback=self._callback,
            )
            stream.start()
        except sd.PortAudioError as exc:
            raise AudioUnavailable(f"The audio output could not be opened: {exc}.") from None
        self._stream = stream

    def close(self) -> None:
        """Stop and release the output stream; safe to call twice."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort()
            stream.close()

    @property
    def latency_ms(self) -> float:
        """PortAudio's estimate of the time from callback to speaker, in ms."""
        return float(self._stream.latency) * 1000 if self._stream is not None else 0.0

    def begin(self, generation: int) -> None:
        """Start a new response: buffer cleared, played position 0."""
        with self._lock:
            self._generation = generation
            self._buffer.clear()
            self._accepting = True
            self._paused = False
            self._finished = False
            self._starved = False
            self._played_frames = 0
            self._marks.clear()

    def feed(self, generation: int, pcm: bytes) -> None:
        """Append ready PCM; ignored unless ``generation`` is the current, unstopped one."""
        with self._lock:
            if generation == self._generation and self._accepting:
                self._buffer += pcm

    def pause(self) -> None:
        """Make the speaker silent within one block, keeping buffer and position."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        """Continue from the exact sample where playback paused."""
        with self._lock:
            self._paused = False

    def stop(self) -> float:
        """Silence at once and drop buffered audio; return ms played of this generation."""
        stream = self._stream
        now = stream.time if stream is not None else 0.0
        with self._lock:
            was_playing = self._accepting
            self._buffer.clear()
            self._accepting = False
            self._paused = False
            self._starved = False
            if was_playing:
                # Audio already handed over but not yet heard is flushed below, so
                # the position falls back to where the speaker is.
                self._played_frames = self._heard_frames(now)
            played = self._frames_ms(self._played_frames)
        if was_playing and stream is not None:
            # Restarting drops what PortAudio and the sound server still hold (tens of
            # ms); the callback alone could only stop feeding them.
            stream.abort()
            stream.start()
        return played

    def mark_finished(self, generation: int) -> None:
        """Note the server sent all audio: running dry after this is not an underrun."""
        with self._lock:
            if generation == self._generation:
                self._finished = True

    @property
    def generation(self) -> int | None:
        """The generation being played, or None before the first ``begin``."""
        return self._generation

    @property
    def played_ms(self) -> float:
        """Ms of the current generation handed to the device."""
        with self._lock:
            return self._frames_ms(self._played_frames)

    @property
    def buffered_ms(self) -> float:
        """Ms of audio waiting in the buffer."""
        with self._lock:
            return self._frames_ms(len(self._buffer) // _FRAME)

    @property
    def underruns(self) -> int:
        """Times the buffer ran dry while a response was still playing."""
        with self._lock:
            return self._underruns

    @property
    def paused(self) -> bool:
        """Whether playback is paused."""
        return self._paused

    def _frames_ms(self, frames: int) -> float:
        return frames * 1000 / self.samplerate

    def _heard_frames(self, now: float) -> int:
        """Frames of this generation the speaker has reached at stream time ``now`` (lock held)."""
        heard = self._played_frames
        for dac, before, count in reversed(self._marks):
            if dac <= 0:
                # The host API gives no DAC times: trust the handed-over count.
                return self._played_frames
            heard = before
            if dac <= now:
                return before + min(count, int((now - dac) * self.samplerate))
        return heard

    def _callback(self, outdata: Any, frames: int, time: Any, _status: Any) -> None:
        """PortAudio thread: copy ready bytes, pad with silence, count underruns."""
        wanted = frames * _FRAME
        with self._lock:
            before = self._played_frames
            if self._paused or not self._accepting:
                count = 0
            else:
                # Whole samples only: an odd trailing byte waits for its partner.
                count = min(wanted, len(self._buffer) & ~1)
                if count:
                    outdata[:count] = self._buffer[:count]
                    del self._buffer[:count]
                    self._played_frames += count // _FRAME
                self._note_supply(count < wanted)
            self._marks.append((time.outputBufferDacTime, before, count // _FRAME))
        if count < wanted:
            outdata[count:wanted] = bytes(wanted - count)

    def _note_supply(self, short: bool) -> None:
        """Count an underrun when a started, unfinished response runs dry (lock held)."""
        if not short:
            self._starved = False
            return
        if self._finished or self._played_frames == 0 or self._starved:
            return
        self._starved = True
        self._underruns += 1
