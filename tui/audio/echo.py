"""Echo cancellation: what the speaker plays, taken back out of what the microphone hears.

Hands-free with speakers, the microphone hears the answer too; without this the app
closes it while an answer plays (half-duplex), so the person cannot interrupt by voice.
With it (opt-in, the ``echo`` extra), WebRTC's audio processing module, as the
``livekit`` wheel ships it (``livekit.rtc.AudioProcessingModule``, AEC3), is given
every block the player hands to PortAudio as the far end (``played``, on PortAudio's
thread: a copy into a bounded buffer, nothing else) and the microphone's audio as
the near end (``clean``, on the app's drain), in 10 ms frames, far before near.

The two streams run on one clock, so they are paired frame by frame: a near frame
takes the oldest far frame waiting, and AEC3 finds the delay between them itself. The
pairing must never slip: on the null-sink rig a drain that found one block (20 ms) more
of microphone than of speaker, and paired it with silence, moved the echo by 20 ms, and
AEC3 leaked speech-like echo for a few hundred ms while it found the new delay (server
VAD started a turn in 2 runs of 4). So microphone audio that is ahead of the speaker's
waits for the next drain (up to ``_MAX_WAIT_S``); a resting speaker (nothing played for
``_RESTING_S``) is paired with silence. When the speaker starts again, or the microphone
opens, the pairing starts afresh, newest frame with newest frame, with a fresh AEC3.
A callback that comes late on a busy machine lets the device run dry, and the echo then
has a gap the blocks handed over do not: each block's DAC time shows it, and the gap is
put into the far end as silence (without this, answers started turns at load 2-3).

Measured as tests/audio/test_echo_canceller.py feeds it (Piper speech, a 60 ms echo
path): the answer alone came out 35 dB quieter, a voice over it lost 1 dB, and the
canceller took 1 % of a core.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Final

from server.protocol import PCM_RATE, PCM_SAMPLE_WIDTH
from tui.errors import AudioUnavailable

FRAME_BYTES: Final = PCM_RATE // 100 * PCM_SAMPLE_WIDTH
"""10 ms of PCM16 mono 24 kHz: the only frame size the module takes."""
_MAX_LEAD_S: Final = 1.0
"""Far-end audio kept waiting at most (more means nothing drains it: the mic is closed)."""
_RESTING_S: Final = 0.5
"""No block played for this long: the speaker rests (its stream stops after 1 s of quiet).
Far more than a block (20 ms), so a callback held up by a busy machine is no rest."""
_MIN_GAP_S: Final = 0.015
"""A block heard this much later than the previous one's end left a gap (DAC times wobble)."""
_MAX_WAIT_S: Final = 0.5
"""Microphone audio ahead of the speaker's waits at most this long for it."""
INSTALL_HINT: Final = (
    "install the echo extra (.venv/bin/pip install -e '.[echo]' in talkterm's folder)"
)


def load_apm() -> Any:
    """livekit's ``rtc`` module; AudioUnavailable in plain words when it is not installed."""
    try:
        from livekit import rtc
    except ImportError as exc:
        raise AudioUnavailable(
            f"Echo cancellation needs the livekit package ({exc.name} is missing); {INSTALL_HINT}."
        ) from None
    return rtc


class EchoCanceller:
    """One far end (the player) and one near end (the microphone), through WebRTC's AEC3."""

    def __init__(self) -> None:
        self._rtc = load_apm()
        self._apm = self._new_apm()
        self._far = bytearray()
        self._lock = threading.Lock()
        self._last_played = 0.0  # monotonic time of the last block played
        self._next_dac = 0.0  # when the speaker plays what comes next (0: unknown)
        self._aligned = False  # the speaker's frames are paired with the microphone's
        self._near = b""  # ahead of the speaker, or less than a frame: the next drain's

    def _new_apm(self) -> Any:
        return self._rtc.AudioProcessingModule(echo_cancellation=True, high_pass_filter=True)

    def played(self, pcm: bytes, dac_time: float = 0.0) -> None:
        """The player handed ``pcm`` to the speaker, to be heard at ``dac_time`` on PortAudio's
        clock (0: unknown); PortAudio's thread, so it only copies."""
        with self._lock:
            self._last_played = time.monotonic()
            self._far += self._gap_before(dac_time) + pcm
            self._next_dac = dac_time + len(pcm) / PCM_SAMPLE_WIDTH / PCM_RATE if dac_time else 0.0
            excess = len(self._far) - int(_MAX_LEAD_S * PCM_RATE) * PCM_SAMPLE_WIDTH
            if excess > 0:
                del self._far[: excess + (-excess) % FRAME_BYTES]

    def _gap_before(self, dac_time: float) -> bytes:
        """The silence the speaker played before this block: its callback came late and the
        device ran dry (seen on a busy machine: 60-120 ms), which the echo has too."""
        gap = dac_time - self._next_dac if dac_time and self._next_dac else 0.0
        if not _MIN_GAP_S < gap < _MAX_LEAD_S:
            return b""
        return bytes(round(gap * PCM_RATE) * PCM_SAMPLE_WIDTH)

    def restart(self) -> None:
        """The microphone opens: pair its frames with the speaker's afresh at the next drain."""
        with self._lock:
            self._aligned = False
        self._near = b""

    def clean(self, pcm: bytes) -> bytes:
        """The microphone's ``pcm`` with the speaker's sound taken out, as far as the
        speaker's audio has come (the rest waits for the next call)."""
        near = self._near + pcm
        frames, far = self._far_for(len(near) // FRAME_BYTES)
        whole = frames * FRAME_BYTES
        self._near = near[whole:]
        out = bytearray()
        for start in range(0, whole, FRAME_BYTES):
            out += self._frame(far[start : start + FRAME_BYTES], near[start : start + FRAME_BYTES])
        return bytes(out)

    def _far_for(self, frames: int) -> tuple[int, bytes]:
        """How many near frames to process now, and the far audio paired with them."""
        # Only this thread changes ``_aligned``; a fresh AEC3 takes milliseconds to build,
        # so it is built before the lock that the speaker's callback (played) waits on.
        resting = time.monotonic() - self._last_played > _RESTING_S
        fresh = self._new_apm() if not (resting or self._aligned) else None
        with self._lock:
            ready = len(self._far) // FRAME_BYTES
            if resting:
                # The speaker rests: silence, and a fresh pairing when it plays again.
                self._aligned = False
                lead, take = frames - min(ready, frames), min(ready, frames)
            elif not self._aligned:
                # The speaker (or the microphone) starts: the newest frames of each are of
                # one moment. A fresh canceller: AEC3 kept its old delay, and leaked.
                del self._far[: max(0, ready - frames) * FRAME_BYTES]
                take = min(ready, frames)
                lead, self._aligned = frames - take, True
                self._apm = fresh
            else:  # wait for the speaker's audio, but not for ever
                frames = max(min(frames, ready), frames - int(_MAX_WAIT_S * 100))
                lead, take = 0, min(ready, frames)
            far = bytes(self._far[: take * FRAME_BYTES])
            del self._far[: len(far)]
        tail = (frames - lead - take) * FRAME_BYTES
        return frames, bytes(lead * FRAME_BYTES) + far + bytes(tail)

    def _frame(self, far: bytes, near: bytes) -> bytes:
        samples = FRAME_BYTES // PCM_SAMPLE_WIDTH
        self._apm.process_reverse_stream(self._rtc.AudioFrame(far, PCM_RATE, 1, samples))
        # Required with echo cancellation on; 0: no hint, AEC3 estimates the delay itself.
        self._apm.set_stream_delay_ms(0)
        frame = self._rtc.AudioFrame(near, PCM_RATE, 1, samples)
        self._apm.process_stream(frame)  # in place
        return bytes(frame.data)


def tap_player(player: object, canceller: EchoCanceller | None) -> bool:
    """Give a real ``Player`` the canceller as its far end (None: no more); whether it could.

    A test's recording double plays nowhere, so there is no echo to take out of it.
    """
    from tui.audio.player import Player

    if not isinstance(player, Player):
        return False
    player.tap = canceller.played if canceller is not None else None
    return True
