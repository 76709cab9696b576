"""A short turn decoded with a short encoder window: Whisper's encoder always works on
30 s of audio (3000 frames), padding a 2 s turn with 28 s of nothing, and that encoder
is 85 % of a short turn's decode (0.42-0.60 s of 0.6 s on this machine, load 4).

CTranslate2's encoder accepts fewer frames, as whisper.cpp's ``audio_ctx`` does. A
window of 10 s (1000 frames) cut a 3 s turn's decode to ~0.1-0.3 s with the same words;
a window barely longer than the speech made tiny.en repeat itself, so the window is at
least 10 s and the speech plus 2 s, in 5 s steps. Whatever still looks wrong (text
that compresses like a loop, or Whisper's own no-speech rule) goes back to the full
30 s decode (``None``), as does a turn longer than 25 s.
"""

from __future__ import annotations

import zlib
from typing import Any, Final

import numpy as np

from server.listen import LISTEN_RATE, Samples

MIN_FRAMES: Final = 1000
STEP_FRAMES: Final = 500
SLACK_FRAMES: Final = 200
FULL_FRAMES: Final = 3000
LONGEST_S: Final = 25.0
# Whisper's own thresholds (openai/whisper transcribe.py).
_LOOPING_RATIO: Final = 2.4
_NO_SPEECH_PROB: Final = 0.6
_LOW_LOGPROB: Final = -1.0


def window(frames: int) -> int:
    """Encoder frames for a turn of ``frames`` mel frames."""
    wanted = -(-(frames + SLACK_FRAMES) // STEP_FRAMES) * STEP_FRAMES
    return min(FULL_FRAMES, max(MIN_FRAMES, wanted))


def decode(model: Any, audio: Samples, prompt: str | None, beam_size: int) -> str | None:
    """The words of a short turn, "" for no speech, or None: use the full decode."""
    if audio.size / LISTEN_RATE > LONGEST_S:
        return None
    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer

    features = model.feature_extractor(audio, padding=160)
    frames = window(features.shape[1])
    features = np.pad(features, ((0, 0), (0, max(0, frames - features.shape[1]))))[:, :frames]
    encoded = model.model.encode(
        ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], np.float32)),
        to_cpu=False,
    )
    multilingual = model.model.is_multilingual
    tokenizer = Tokenizer(
        model.hf_tokenizer,
        multilingual,
        task="transcribe" if multilingual else None,
        language="en" if multilingual else None,
    )
    previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
    tokens = model.get_prompt(tokenizer, previous, without_timestamps=True)
    seconds = audio.size / LISTEN_RATE
    result = model.model.generate(
        encoded,
        [tokens],
        beam_size=beam_size,
        max_length=min(model.max_length, len(tokens) + int(seconds * 8) + 10),
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=[-1],
    )[0]
    ids = result.sequences_ids[0]
    text = str(tokenizer.decode(ids)).strip()
    logprob = result.scores[0] / (len(ids) + 1)
    if result.no_speech_prob > _NO_SPEECH_PROB and logprob < _LOW_LOGPROB:
        return ""
    if text and len(text) / len(zlib.compress(text.encode())) > _LOOPING_RATIO:
        return None
    return text
