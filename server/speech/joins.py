"""Joins inside a sentence without a pause a listener notices: trimming engines' padding.

Engines frame every run with silence — Piper about 50 ms before the speech and 130–150 ms
after it, espeak-ng 0.3 s after — which is right between sentences but not inside one.
Two places join runs inside a sentence:

- an early opening fragment and the rest of its sentence (issue 17): ``seamless`` cuts
  the silence after the fragment and before its continuation to a short breath on each
  side (a 180 ms gap became 30 ms);
- parts of one sentence said by different voices (issue 20): ``trimmed`` drops the
  silence before the second voice and cuts the one after the first to a word gap ("I
  like 北京烤鸭 a lot." had a 0.35 s hole).

Silence is held back rather than sent, so nothing audible waits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import numpy as np
import numpy.typing as npt

from server.protocol import PCM_RATE
from server.speech.sentences import Segment

_WINDOW: Final = PCM_RATE // 200 * 2  # 5 ms of PCM16, in bytes
KEEP_MS: Final = 15
"""Silence kept on each side of a join: together about the gap between two words."""
_KEEP: Final = PCM_RATE * KEEP_MS // 1000 * 2
# Quieter than this RMS (of full scale 32768, about −40 dBFS) counts as silence.
_SILENT: Final = 328.0


async def seamless(pcm: AsyncIterator[bytes], segment: Segment) -> AsyncIterator[bytes]:
    """``pcm`` of ``segment`` with the silence at a fragment join trimmed to ``KEEP_MS``."""
    if not (segment.continued or segment.continues):
        async for chunk in pcm:
            yield chunk
        return
    leading = segment.continued
    held = b""  # trailing silence not yet known to be followed by speech
    async for chunk in pcm:
        audio = held + chunk
        if leading:
            start = _first_sound(audio)
            if start is None:
                held = audio[-_KEEP:]
                continue
            audio, leading = audio[max(0, start - _KEEP) :], False
        if not segment.continues:
            yield audio
            held = b""
            continue
        end = _last_sound_end(audio)
        held = audio[end:]
        if end:
            yield audio[:end]
    if held and not leading:
        yield held[:_KEEP] if segment.continues else held


def _loud(audio: bytes) -> npt.NDArray[np.intp]:
    usable = len(audio) // _WINDOW * _WINDOW
    windows = np.frombuffer(audio[:usable], "<i2").astype(np.float32).reshape(-1, _WINDOW // 2)
    return np.flatnonzero(np.sqrt((windows**2).mean(axis=1)) >= _SILENT)


def _first_sound(audio: bytes) -> int | None:
    """Byte offset of the first 5 ms window that is not silence, or None."""
    loud = _loud(audio)
    return int(loud[0]) * _WINDOW if loud.size else None


def _last_sound_end(audio: bytes) -> int:
    """Byte offset just after the last window that is not silence (0 if all is silence)."""
    loud = _loud(audio)
    return (int(loud[-1]) + 1) * _WINDOW if loud.size else 0


# Below this a sample is silence (1.5 % of full scale): engines' padding is near 0.
QUIET: Final = 500
# The pause kept where voices change: a gap between words, not between sentences.
JOIN_GAP_S: Final = 0.06
_GAP_BYTES: Final = int(JOIN_GAP_S * PCM_RATE) * 2


async def trimmed(chunks: AsyncIterator[bytes], *, head: bool, tail: bool) -> AsyncIterator[bytes]:
    """``chunks`` (PCM16) without leading silence if ``head``, trailing cut to a gap if ``tail``."""
    held = b""  # trailing silence not sent yet
    async for pcm in chunks:
        if head:
            pcm = pcm[quiet_prefix(pcm) :]
            if not pcm:
                continue
            head = False
        if not tail:
            yield pcm
            continue
        loud = len(pcm) - quiet_suffix(pcm)
        if loud == 0:
            held += pcm
            continue
        yield held + pcm[:loud]
        held = pcm[loud:]
    if held:
        yield held[:_GAP_BYTES]


def quiet_prefix(pcm: bytes) -> int:
    """How many bytes at the start of ``pcm`` are silence (whole samples)."""
    samples = memoryview(pcm[: len(pcm) // 2 * 2]).cast("h")
    for index, sample in enumerate(samples):
        if abs(sample) >= QUIET:
            return index * 2
    return len(samples) * 2


def quiet_suffix(pcm: bytes) -> int:
    """How many bytes at the end of ``pcm`` are silence (whole samples)."""
    samples = memoryview(pcm[: len(pcm) // 2 * 2]).cast("h")
    count = len(samples)
    for index in range(count - 1, -1, -1):
        if abs(samples[index]) >= QUIET:
            return (count - 1 - index) * 2
    return count * 2
