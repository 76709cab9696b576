"""Audio playback: PCM16 mono 24 kHz from a buffer to a PortAudio output stream.

Other threads (the network worker, the UI) call ``begin``/``feed``/``pause``/
``stop``; PortAudio's own thread runs the callback, which only copies ready
bytes out of the buffer under a short lock and pads with silence. Decoding
happens before ``feed`` (see ``tui.audio.decoder``), never in the callback.

Each response has a *generation* number chosen by the caller; audio fed for
any generation but the current one is dropped, so late frames of a stopped
response never play.

Pause must be quick *and* exact, but ~50 ms of audio is always in flight
between the callback and the speaker (PortAudio's two 20 ms periods plus the
sound server's share). Silencing the callback alone lets that play out:
pause → silence took ~46 ms (p50). Shorter blocks only shrink it (10 ms blocks:
~25 ms, and they already underran here), so blocks stay at 20 ms and ``pause``
does what ``stop`` does: restart the stream, which drops everything in flight,
place the speaker in the stream from the callbacks' ``outputBufferDacTime``
against ``stream.time``, and rewind the read position to that sample — the
buffer keeps the last half second it handed over for this. Measured on the
null-sink rig (bench/stop_silence.py, N=20): pause → silence ~0 ms (max < 3 ms
idle, ~5 ms with both cores busy) and resume within ~1 ms of the sample where
sound stopped (max ~2 ms idle, ~4 ms busy), about the rig's resolution.
``played_ms`` is the speaker's position, so after a pause it is exactly where
resume picks up.

Idle costs nothing: a running stream wakes the callback 50 times a second (with
the app's tick, 1.6 % of a core doing nothing). Once nothing has been played for
``rest_after_ms`` (the last answer's tail has long reached the speaker) the callback
ends the stream, and ``begin`` starts it again; a restart costs about what a pause
does (well under a frame, bench/idle_cpu.py), and ``begin`` runs when the question
is sent, long before the answer's first audio arrives.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from types import ModuleType, TracebackType
from typing import Any

from server.protocol import PCM_SAMPLE_WIDTH
from tui.errors import AudioUnavailable

# Bytes per frame: mono, 16-bit.
_FRAME = PCM_SAMPLE_WIDTH
# Callbacks remembered for placing the speaker in the stream; must cover the
# output latency (tens of ms) many times over.
_MARKS = 32
# Handed-over audio kept so pause can rewind to the speaker; must cover what
# PortAudio and the sound server hold (~50 ms) many times over.
_HISTORY_MS = 500
# Quiet time after which the stream rests; must cover what is in flight (~50 ms)
# many times over, so no answer's tail is cut.
REST_AFTER_MS = 1000


def load_sounddevice() -> ModuleType:
    """Import sounddevice late: importing it raises OSError without libportaudio."""
    try:
        import sounddevice as module
    except (OSError, ImportError) as exc:
        raise AudioUnavailable(
            f"Audio is unavailable: the PortAudio library could not be loaded ({exc}). "
            "Install it (Debian/Ubuntu: apt-get install libportaudio2)."
        ) from None
    sounddevice: ModuleType = module
    return sounddevice


def list_devices() -> list[tuple[int, str]]:
    """Return the output devices as (index, name) pairs."""
    sd = load_sounddevice()
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
        self,
        *,
        device: str | int | None = None,
        samplerate: int = 24000,
        block_ms: int = 20,
        rest_after_ms: float | None = REST_AFTER_MS,
    ) -> None:
        if samplerate <= 0 or block_ms <= 0:
            raise ValueError("samplerate and block_ms must be positive")
        self.device = device
        self.samplerate = samplerate
        self.block_ms = block_ms
        self.blocksize = samplerate * block_ms // 1000
        self._lock = threading.Lock()
        # This generation's audio: a tail already handed over, kept for rewinding,
        # then what waits. _read is the byte offset where the two meet.
        self._buffer = bytearray()
        self._read = 0
        self._history = samplerate * _HISTORY_MS // 1000 * _FRAME
        self._generation: int | None = None
        # False once stop() ran: late frames of the same generation must stay silent.
        self._accepting = False
        self._paused = False
        self._finished = False
        # Set while the callback keeps finding the buffer dry, so one gap counts once.
        self._starved = False
        # Frames handed over; falls back to the speaker's position whenever the
        # device is flushed (pause, stop).
        self._played_frames = 0
        self._underruns = 0
        self._xruns = 0
        # (DAC time, frames played before the block, audio frames in it), per callback
        # since the last flush.
        self._marks: deque[tuple[float, int, int]] = deque(maxlen=_MARKS)
        self._stream: Any = None
        # Quiet callbacks in a row, and how many end the stream (None: it never rests).
        self._quiet = 0
        self._rest_after = None if rest_after_ms is None else max(1, int(rest_after_ms // block_ms))
        # True once the callback has ended the stream; begin() starts it again.
        self._resting = False
        self._stop_signal: type[BaseException] = Exception
        self.tap: Callable[[bytes, float], None] | None = None
        """Called on PortAudio's thread with each block played and its DAC time (the echo
        canceller's far end)."""

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
        sd = load_sounddevice()
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
        self._stop_signal = sd.CallbackStop
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

    @property
    def resting(self) -> bool:
        """Whether the stream is stopped for want of anything to play."""
        return self._resting

    @property
    def running(self) -> bool:
        """Whether PortAudio is running the stream (waking the callback every block)."""
        return self._stream is not None and bool(self._stream.active)

    def begin(self, generation: int) -> None:
        """Start a new response: buffer cleared, played position 0, the stream running."""
        with self._lock:
            wake, self._resting, self._quiet = self._resting, False, 0
            self._generation = generation
            self._buffer.clear()
            self._read = 0
            self._accepting = True
            self._paused = False
            self._finished = False
            self._starved = False
            self._played_frames = 0
            self._marks.clear()
        if wake and self._stream is not None:
            # The callback ended the stream; PortAudio wants it stopped before a start.
            self._stream.abort()
            self._stream.start()

    def feed(self, generation: int, pcm: bytes) -> None:
        """Append ready PCM; ignored unless ``generation`` is the current, unstopped one."""
        with self._lock:
            if generation == self._generation and self._accepting:
                self._buffer += pcm

    def pause(self) -> None:
        """Silence the speaker at once; resume continues from the sample it had reached."""
        with self._lock:
            flush = self._accepting and not self._paused
            self._paused = True
        if flush:
            # The callback now hands over only silence; rewind over what was in flight.
            self._flush(rewind=True)

    def resume(self) -> None:
        """Continue from the exact sample where playback paused."""
        with self._lock:
            self._paused = False

    def stop(self) -> float:
        """Silence at once and drop buffered audio; return ms played of this generation."""
        with self._lock:
            was_playing = self._accepting
            self._accepting = False
            self._paused = False
            self._starved = False
        if was_playing:
            self._flush(rewind=False)
        with self._lock:
            self._buffer.clear()
            self._read = 0
            return self._frames_ms(self._played_frames)

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
        """Ms of the current generation the speaker has reached."""
        now = self._stream_time()
        with self._lock:
            return self._frames_ms(self._heard_frames(now))

    @property
    def buffered_ms(self) -> float:
        """Ms of audio waiting in the buffer."""
        with self._lock:
            return self._frames_ms((len(self._buffer) - self._read) // _FRAME)

    @property
    def underruns(self) -> int:
        """Times the buffer ran dry while a response was still playing."""
        with self._lock:
            return self._underruns

    @property
    def xruns(self) -> int:
        """Callbacks for which PortAudio reported the device itself ran dry."""
        with self._lock:
            return self._xruns

    @property
    def paused(self) -> bool:
        """Whether playback is paused."""
        return self._paused

    def _frames_ms(self, frames: int) -> float:
        return frames * 1000 / self.samplerate

    def _stream_time(self) -> float:
        """PortAudio's clock, which the callbacks' DAC times are on; 0 without a stream."""
        stream = self._stream
        return float(stream.time) if stream is not None else 0.0

    def _flush(self, *, rewind: bool) -> None:
        """Drop what PortAudio and the sound server hold; place the position at the speaker."""
        stream = self._stream
        if stream is None or self._resting:
            return  # a resting stream has nothing in flight
        # Restarting drops the tens of ms in flight, which the callback alone could only
        # stop feeding. The lock must not be held here: abort waits for the callback.
        started = self._stream_time()
        stream.abort()
        # Sound stops somewhere inside abort(): well under 1 ms, but up to ~20 ms when
        # both cores are busy, and then anywhere in it. The middle halves the worst case.
        now = (started + self._stream_time()) / 2
        with self._lock:
            heard = self._heard_frames(now)
            if rewind:
                # Put the flushed, unheard audio back in front of what waits.
                self._read -= min(self._played_frames - heard, self._read // _FRAME) * _FRAME
            self._played_frames = heard
            self._marks.clear()
        stream.start()

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

    def _callback(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        """PortAudio thread: copy ready bytes, pad with silence, count underruns."""
        wanted = frames * _FRAME
        with self._lock:
            if status.output_underflow:
                self._xruns += 1
            before = self._played_frames
            count = 0
            if not self._paused and self._accepting:
                count = self._hand_over(outdata, wanted)
                self._note_supply(count < wanted)
            self._marks.append((time.outputBufferDacTime, before, count // _FRAME))
            rest = self._note_quiet(count)
        if count < wanted:
            outdata[count:wanted] = bytes(wanted - count)
        if self.tap is not None:
            self.tap(bytes(outdata[:wanted]), time.outputBufferDacTime)
        if rest:
            # PortAudio plays out this last (silent) block, then the stream stops.
            raise self._stop_signal

    def _note_quiet(self, count: int) -> bool:
        """Whether the stream should rest now: nothing to play for long enough (lock held)."""
        dry = self._read >= len(self._buffer)
        idle = not self._accepting or (self._finished and dry)
        if count or self._paused or not idle or self._rest_after is None:
            self._quiet = 0
            return False
        self._quiet += 1
        self._resting = self._quiet >= self._rest_after
        return self._resting

    def _hand_over(self, outdata: Any, wanted: int) -> int:
        """Copy up to ``wanted`` ready bytes into ``outdata``; return how many (lock held)."""
        read = self._read
        # Whole samples only: an odd trailing byte waits for its partner.
        count = min(wanted, (len(self._buffer) - read) & ~1)
        if count:
            outdata[:count] = self._buffer[read : read + count]
            self._read = read + count
            self._played_frames += count // _FRAME
            if self._read > 2 * self._history:
                # Cheap: CPython drops a bytearray's head by moving its start, not its bytes.
                del self._buffer[: self._read - self._history]
                self._read = self._history
        return count

    def _note_supply(self, short: bool) -> None:
        """Count an underrun when a started, unfinished response runs dry (lock held)."""
        if not short:
            self._starved = False
            return
        if self._finished or self._played_frames == 0 or self._starved:
            return
        self._starved = True
        self._underruns += 1
