"""Joining the parts of a sentence said by different voices without a pause between words.

Each engine pads its utterance with silence: espeak-ng ends every one with 0.3 s of it,
which in "I like 北京烤鸭 a lot." became a 0.35 s hole mid-sentence. Where one voice
hands over to the next, the silence after the first is cut to a short word gap and the
silence before the second is dropped. Silence is held back rather than sent, so nothing
audible waits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from server.protocol import PCM_RATE

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
