"""One session's input audio buffer: appends decoded, turns found, commits handed on.

Appended audio is kept as PCM16 at the client's rate (24 kHz, or 8 kHz for G.711)
and, with server VAD, also fed as it arrives to the session's own Silero state at
16 kHz. Two windows of speech (64 ms) start a turn (``speech_started``, and barge-in);
``silence_duration_ms`` of silence ends it (``speech_stopped``, then the commit). The
moment the silence starts the turn so far is handed over for an early decode, so the
words are usually ready when the commit comes. Without a turn, only
``prefix_padding_ms`` of audio is kept.

Bounds: a turn is at most ``stt.max_turn_s`` (server VAD commits there, push-to-talk
refuses more), one append at most ``MAX_APPEND_S``, and the buffered bytes count in the
server's replay budget, so many talking clients squeeze replay memory, not the heap.
"""

from __future__ import annotations

import base64
import binascii
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, Final

import numpy as np

from server import protocol as p
from server.listen import LISTEN_RATE, Samples
from server.listen.vad import WINDOW_MS, VoiceActivity
from server.session.client_events import bad_event, required_field
from server.session.input_config import InputConfig, TurnDetection
from server.session.replay import ReplayBudget

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

MIN_COMMIT_MS: Final = 100
MAX_APPEND_S: Final = 15.0
# Two windows in a row over the threshold start a turn: one 32 ms window alone was a click.
_START_WINDOWS: Final = 2
# Silero's own hysteresis: speech goes on until the probability falls this far below.
_HYSTERESIS: Final = 0.15

Send = Callable[[dict[str, Any]], Awaitable[None]]
# A committed turn: PCM16 at the client's rate, the rate, the id its item will have.
OnTurn = Callable[[bytes, int, str], Awaitable[None]]
# The turn so far, as the silence after it starts: (item id, PCM16, rate), or None to drop it.
OnPause = Callable[[str, bytes | None, int], None]


class InputAudio:
    """The input audio buffer of one session and its turn detection."""

    def __init__(
        self,
        *,
        send: Send,
        on_turn: OnTurn,
        on_pause: OnPause,
        on_speech: Callable[[], None],
        budget: ReplayBudget,
        max_turn_s: float,
        problem: Callable[[], str | None],
    ) -> None:
        self._send = send
        self._on_turn = on_turn
        self._on_pause = on_pause
        self._on_speech = on_speech
        self._budget = budget
        self._max_turn_ms = max_turn_s * 1000
        self._problem = problem
        self._pcm = bytearray()
        self._rate = p.PCM_RATE
        self._start_ms = 0.0  # session audio clock at the buffer's first sample
        self._vad = VoiceActivity()
        self._to16k = _To16k()
        self._vad_ms = 0.0  # session audio clock at the end of the last window judged
        self._above = 0
        self._speech_ms: float | None = None  # where the current turn starts, with padding
        self._silence_ms = 0.0
        self._item_id: str | None = None
        self._detection: TurnDetection | None = None

    @property
    def _end_ms(self) -> float:
        return self._start_ms + len(self._pcm) / 2 * 1000 / self._rate

    @property
    def recording(self) -> bool:
        """Whether audio of a turn not yet committed is held."""
        return self._speech_ms is not None or (self._detection is None and bool(self._pcm))

    async def append(self, event: dict[str, Any], config: InputConfig) -> None:
        """Add the client's audio; with server VAD, find where turns start and end."""
        if (problem := self._problem()) is not None:
            raise bad_event(event, "stt_unavailable", problem)
        pcm = decode_audio(event, config)
        if config.rate != self._rate:
            self._reset(config.rate)
        self._detection = config.turn_detection
        if (
            config.turn_detection is None
            and self._ms(len(self._pcm) + len(pcm)) > self._max_turn_ms
        ):
            raise bad_event(
                event,
                "input_audio_buffer_full",
                f"A spoken turn is at most {self._max_turn_ms / 1000:g} s; commit or clear "
                "the buffer before appending more.",
                "audio",
            )
        self._grow(pcm)
        if config.turn_detection is not None:
            await self._detect(pcm, config.turn_detection)

    async def commit(self, event: dict[str, Any]) -> None:
        """Hand the whole buffer over as a turn (push-to-talk, or a client ending a turn)."""
        if (problem := self._problem()) is not None:
            raise bad_event(event, "stt_unavailable", problem)
        held = self._end_ms - self._start_ms
        if held < MIN_COMMIT_MS:
            raise bad_event(
                event,
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {held:.2f}ms of audio.",
            )
        item_id = self._item_id or p.new_id("item")
        await self._commit(len(self._pcm), item_id)

    async def clear(self, _event: dict[str, Any]) -> None:
        """Drop the buffer and any turn in progress."""
        self._drop()
        await self._send({"type": p.INPUT_CLEARED})

    async def dropped(self) -> None:
        """The client's link went while it recorded: drop the half turn and say so."""
        if not self.recording:
            return
        self._drop()
        await self._send({"type": p.INPUT_CLEARED})
        await self._send(
            p.notice_event(
                p.INPUT_AUDIO_INTERRUPTED,
                "The connection dropped while you were speaking, so that turn was dropped; "
                "please say it again.",
            )
        )

    def release(self) -> None:
        """Give the buffer's bytes back to the replay budget (the session ended)."""
        self._drop()

    # -- server VAD --------------------------------------------------------------

    async def _detect(self, pcm: bytes, detection: TurnDetection) -> None:
        probs = self._vad.feed(self._to16k.feed(pcm, self._rate))
        for prob in probs:
            self._vad_ms += WINDOW_MS
            if self._speech_ms is None:
                await self._idle_window(float(prob), detection)
            else:
                await self._speech_window(float(prob), detection)
        if self._speech_ms is None:
            keep = max(detection.prefix_padding_ms, _START_WINDOWS * WINDOW_MS) + WINDOW_MS
            self._trim_before(self._vad_ms - keep)

    async def _idle_window(self, prob: float, detection: TurnDetection) -> None:
        self._above = self._above + 1 if prob >= detection.threshold else 0
        if self._above < _START_WINDOWS:
            return
        onset = self._vad_ms - _START_WINDOWS * WINDOW_MS
        self._speech_ms = max(self._start_ms, onset - detection.prefix_padding_ms)
        self._silence_ms = 0.0
        self._item_id = p.new_id("item")
        start = round(self._speech_ms)
        await self._send(
            {"type": p.SPEECH_STARTED, "audio_start_ms": start, "item_id": self._item_id}
        )
        if detection.interrupt_response:
            self._on_speech()

    async def _speech_window(self, prob: float, detection: TurnDetection) -> None:
        assert self._speech_ms is not None and self._item_id is not None
        if prob >= detection.threshold:
            if self._silence_ms:
                self._on_pause(self._item_id, None, self._rate)  # speech resumed
            self._silence_ms = 0.0
        elif self._silence_ms or prob < detection.threshold - _HYSTERESIS:
            if not self._silence_ms:
                so_far = self._slice(self._speech_ms, self._vad_ms)
                self._on_pause(self._item_id, so_far, self._rate)
            self._silence_ms += WINDOW_MS
        long = self._vad_ms - self._speech_ms >= self._max_turn_ms
        if self._silence_ms >= detection.silence_duration_ms or long:
            await self._send(
                {
                    "type": p.SPEECH_STOPPED,
                    "audio_end_ms": round(self._vad_ms),
                    "item_id": self._item_id,
                }
            )
            self._trim_before(self._speech_ms)
            await self._commit(self._offset(self._vad_ms), self._item_id)

    # -- the buffer --------------------------------------------------------------

    async def _commit(self, end: int, item_id: str) -> None:
        pcm = bytes(self._pcm[:end])
        self._shrink(end)
        self._speech_ms, self._item_id, self._silence_ms, self._above = None, None, 0.0, 0
        await self._on_turn(pcm, self._rate, item_id)

    def _drop(self) -> None:
        if self._item_id is not None:
            self._on_pause(self._item_id, None, self._rate)
        self._shrink(len(self._pcm))
        self._vad.reset()
        self._to16k = _To16k()
        self._vad_ms = self._start_ms
        self._speech_ms, self._item_id, self._silence_ms, self._above = None, None, 0.0, 0

    def _reset(self, rate: int) -> None:
        self._drop()
        self._rate = rate

    def _grow(self, pcm: bytes) -> None:
        self._pcm += pcm
        self._budget.used += len(pcm)
        self._budget.enforce()

    def _shrink(self, count: int) -> None:
        count -= count % 2
        del self._pcm[:count]
        self._budget.used -= count
        self._start_ms += self._ms(count)

    def _trim_before(self, ms: float) -> None:
        if ms > self._start_ms:
            self._shrink(self._offset(ms))

    def _offset(self, ms: float) -> int:
        """Byte offset in the buffer of session-clock time ``ms``."""
        samples = round((ms - self._start_ms) * self._rate / 1000)
        return max(0, min(len(self._pcm), samples * 2))

    def _slice(self, start_ms: float, end_ms: float) -> bytes:
        return bytes(self._pcm[self._offset(start_ms) : self._offset(end_ms)])

    def _ms(self, byte_count: int) -> float:
        return byte_count / 2 * 1000 / self._rate


def decode_audio(event: dict[str, Any], config: InputConfig) -> bytes:
    """The PCM16 samples of an append, at the client's rate; refused in plain words."""
    data = required_field(event, "audio", str)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad_event(
            event, "invalid_base64", "Field 'audio' is not valid base64.", "audio"
        ) from None
    kind = config.format["type"]
    seconds = len(raw) / (2 if kind == "audio/pcm" else 1) / config.rate
    if seconds > MAX_APPEND_S:
        raise bad_event(
            event,
            "input_audio_append_too_large",
            f"One append carries at most {MAX_APPEND_S:g} s of audio; this one has "
            f"{seconds:.1f} s. Send it in smaller pieces (OpenAI's clients send 20-100 ms).",
            "audio",
        )
    return as_pcm16(event, raw, kind, piece="an append", param="audio")


def as_pcm16(event: dict[str, Any], raw: bytes, kind: str, *, piece: str, param: str) -> bytes:
    """``raw`` audio in the input format ``kind`` as PCM16 samples (G.711 expanded); PCM
    with half a sample is refused in plain words naming ``piece`` and ``param``."""
    if kind == "audio/pcmu":
        return audioop.ulaw2lin(raw, 2)
    if kind == "audio/pcma":
        return audioop.alaw2lin(raw, 2)
    if len(raw) % 2:
        raise bad_event(
            event,
            "invalid_audio_format",
            f"audio/pcm is 16-bit samples, so {piece} has an even number of bytes; this one "
            f"has {len(raw)}. Send 24000 Hz mono PCM16 little-endian.",
            param,
        )
    return raw


class _To16k:
    """A cheap streaming conversion to 16 kHz for the voice-activity model only.

    24 kHz keeps two samples of every three (the second the mean of two); 8 kHz doubles
    each sample. Silero hears speech as well through it; the recognizer gets the turn
    resampled properly (server.speech.resample).
    """

    def __init__(self) -> None:
        self._carry = np.zeros(0, np.float32)

    def feed(self, pcm: bytes, rate: int) -> Samples:
        """16 kHz float32 samples for the PCM16 ``pcm`` at ``rate``."""
        x = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
        if rate == LISTEN_RATE:
            return x
        if rate < LISTEN_RATE:
            return np.repeat(x, LISTEN_RATE // rate)
        x = np.concatenate([self._carry, x])
        whole = x.size // 3 * 3
        self._carry = x[whole:]
        groups = x[:whole].reshape(-1, 3)
        out = np.empty((groups.shape[0], 2), np.float32)
        out[:, 0] = groups[:, 0]
        out[:, 1] = (groups[:, 1] + groups[:, 2]) / 2
        return out.reshape(-1)
