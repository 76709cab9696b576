"""The echo canceller on its own: fed as the app feeds it (the player's 20 ms blocks, the
microphone drained every 100 ms), the speaker's sound leaves the microphone's audio and a
voice over it stays."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.voice import silence, spoken
from tui.audio.echo import EchoCanceller

pytest.importorskip("livekit.rtc", reason="the echo extra is not installed (pip install .[echo])")

RATE = 24_000
BLOCK = RATE // 50 * 2  # the player's 20 ms
DRAIN = RATE // 10 * 2  # the app's 100 ms


def samples(pcm: bytes) -> np.typing.NDArray[np.float64]:
    """PCM16 as floats."""
    return np.frombuffer(pcm, np.int16).astype(np.float64)


def pcm16(x: np.typing.NDArray[np.float64]) -> bytes:
    """Floats as PCM16."""
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def db(x: np.typing.NDArray[np.float64]) -> float:
    """Loudness in dB (RMS)."""
    return float(20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-9))


def run(canceller: EchoCanceller, far: bytes, near: bytes) -> bytes:
    """Play ``far`` and record ``near`` in step, as the player and the app's drain do."""
    out = bytearray()
    for start in range(0, len(near), DRAIN):
        for block in range(start, min(start + DRAIN, len(far)), BLOCK):
            canceller.played(far[block : block + BLOCK])
        out += canceller.clean(near[start : start + DRAIN])
    return bytes(out)


async def test_the_answer_is_taken_out_and_a_voice_over_it_stays() -> None:
    answer = await spoken("The weather today is mild, with a light wind from the west.")
    voice = await spoken("What time is it?")
    far = answer + silence(3)
    delay = RATE * 60 // 1000  # 60 ms from speaker to microphone, the room a little quieter
    echo = np.concatenate([np.zeros(delay), 0.7 * samples(far)[: len(far) // 2 - delay]])
    talk_at = len(answer) // 2 // 2  # the voice starts half way through the answer
    near = echo.copy()
    near[talk_at : talk_at + len(voice) // 2] += samples(voice)
    out = samples(run(EchoCanceller(), far, pcm16(near)))
    # The answer alone (after the first second, once the canceller has found the echo).
    alone = slice(RATE, talk_at)
    assert db(out[alone]) < db(near[alone]) - 25
    # The voice over the answer keeps most of its loudness.
    both = slice(talk_at, talk_at + len(voice) // 2)
    assert db(out[both]) > db(samples(voice)) - 10


def test_what_plays_while_nothing_drains_is_bounded_and_skipped_on_restart() -> None:
    canceller = EchoCanceller()
    for _ in range(500):  # 10 s of playing with the microphone closed
        canceller.played(bytes(BLOCK))
    assert len(canceller._far) <= RATE * 2
    canceller.restart()
    # The microphone's first drain is paired with the newest 100 ms played, not the oldest.
    assert len(canceller.clean(bytes(DRAIN))) == DRAIN
    assert canceller._far == bytearray()
    # Microphone audio ahead of the speaker's waits for it; less than a frame is kept too.
    canceller.played(bytes(BLOCK))
    assert len(canceller.clean(bytes(DRAIN + 2))) == BLOCK
    canceller.played(bytes(DRAIN))
    assert len(canceller.clean(b"")) == DRAIN - BLOCK


def test_a_gap_the_speaker_played_is_in_the_far_end_too() -> None:
    canceller = EchoCanceller()
    canceller.played(bytes(BLOCK), 10.0)
    canceller.played(bytes(BLOCK), 10.02)  # on time: no gap
    canceller.played(bytes(BLOCK), 10.04 + 0.1)  # its callback came 100 ms late
    assert len(canceller._far) == 3 * BLOCK + RATE // 10 * 2
