"""The silence around an early fragment's join is cut to a breath; other segments are untouched."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np

from server.protocol import PCM_RATE
from server.speech.joins import KEEP_MS, seamless
from server.speech.sentences import Segment

MS = PCM_RATE // 1000 * 2  # bytes per millisecond of PCM16
WINDOW_MS = 5  # silence is judged in windows this long, wherever a chunk starts


def silence(ms: int) -> bytes:
    return bytes(ms * MS)


def tone(ms: int) -> bytes:
    t = np.arange(ms * PCM_RATE // 1000) / PCM_RATE
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()


SPEECH = tone(300)
FRAMED = silence(50) + SPEECH + silence(150)  # as Piper frames a run


async def chunks(audio: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(audio), size):
        yield audio[start : start + size]


async def heard(segment: Segment, size: int = 1000) -> bytes:
    return b"".join([pcm async for pcm in seamless(chunks(FRAMED, size), segment)])


async def test_a_fragment_keeps_only_a_breath_of_silence_after_it() -> None:
    for size in (1000, 4096, len(FRAMED)):
        out = await heard(Segment("The quick", 0, 9, continues=True), size)
        assert out.startswith(silence(50) + SPEECH)
        kept = len(out) - len(silence(50) + SPEECH)
        assert KEEP_MS * MS <= kept <= (KEEP_MS + WINDOW_MS) * MS


async def test_its_continuation_keeps_only_a_breath_of_silence_before_it() -> None:
    for size in (1000, 4096, len(FRAMED)):
        out = await heard(Segment(" brown fox.", 9, 20, continued=True), size)
        assert out.endswith(SPEECH + silence(150))
        kept = len(out) - len(SPEECH + silence(150))
        assert KEEP_MS * MS <= kept <= (KEEP_MS + WINDOW_MS) * MS


async def test_a_middle_piece_is_trimmed_on_both_sides() -> None:
    out = await heard(Segment(" brown fox", 9, 19, continues=True, continued=True), 4096)
    assert SPEECH in out
    assert len(out) - len(SPEECH) <= 2 * (KEEP_MS + WINDOW_MS) * MS


async def test_other_segments_are_passed_through_untouched() -> None:
    assert await heard(Segment("Sure.", 0, 5)) == FRAMED
