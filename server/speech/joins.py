"""Joining an opening fragment to the rest of its sentence without a pause between them.

Piper frames every run with silence, about 50 ms before the speech and 130–150 ms
after it (measured on en_US-joe-medium), which is right between sentences. Between
an early fragment and the rest of its sentence that made a 180 ms gap inside the
sentence (issue 17), so here the silence after a fragment and before its
continuation is cut down to a short breath on each side.
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
