"""Band-limited sample-rate conversion of whole utterances (numpy polyphase filter).

``audio_format.PcmConverter`` uses ``audioop.ratecv``, which interpolates linearly
with no anti-imaging filter: fine for espeak-ng's already-24 kHz-ish audio, but
22050 → 24000 Hz of a neural voice deserves a real filter. This one is a
Kaiser-windowed sinc split into L phases (L/M = 160/147 for Piper's rate), so each
output sample costs ``_TAPS_PER_PHASE`` multiply-adds (≈ 3 ms per second of speech).
It converts one complete array at a time: Piper hands us whole sentences.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]

_TAPS_PER_PHASE = 32
# Kaiser beta 8.6 gives about 90 dB stop-band attenuation.
_KAISER_BETA = 8.6
# Cut-off as a fraction of the lower Nyquist frequency: with 32 taps a phase the
# transition band is ~3.9 kHz wide, so this puts the stop band at Nyquist (11 kHz)
# and keeps speech (< 7 kHz) flat.
_PASS_FRACTION = 0.83
# Outputs computed per numpy pass, to bound the (outputs × taps) scratch array.
_BLOCK = 16384


@cache
def _bank(up: int, down: int) -> npt.NDArray[np.float32]:
    """Filter bank H[phase, tap] of a low-pass prototype at the up-sampled rate."""
    count = up * _TAPS_PER_PHASE
    cutoff = _PASS_FRACTION * 0.5 / max(up, down)  # cycles per up-sampled sample
    n = np.arange(count) - (count - 1) / 2
    prototype = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(count, _KAISER_BETA)
    # Gain ``up`` makes up for the zeros stuffed between input samples.
    prototype *= up / prototype.sum()
    bank: npt.NDArray[np.float32] = prototype.reshape(_TAPS_PER_PHASE, up).T.astype(np.float32)
    return bank.copy()


def resample(samples: npt.NDArray[np.floating] | Samples, rate_in: int, rate_out: int) -> Samples:
    """Return float32 ``samples`` converted from ``rate_in`` to ``rate_out`` Hz."""
    x = np.asarray(samples, dtype=np.float32)
    if rate_in == rate_out or x.size == 0:
        return x.copy()
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    bank = _bank(up, down)
    taps = bank.shape[1]
    # Centre the filter: this many up-sampled samples of delay are skipped.
    delay = (up * taps - 1) // 2
    padded = np.concatenate([np.zeros(taps, np.float32), x, np.zeros(taps, np.float32)])
    total = (x.size * up + down - 1) // down
    out = np.empty(total, np.float32)
    k = np.arange(taps)
    for first in range(0, total, _BLOCK):
        t = np.arange(first, min(first + _BLOCK, total), dtype=np.int64) * down + delay
        phase, base = t % up, t // up
        window = padded[(base[:, None] - k[None, :]) + taps]
        out[first : first + t.size] = np.einsum("ij,ij->i", window, bank[phase])
    return out


def to_pcm16(samples: Samples) -> bytes:
    """Float samples in [-1, 1] as PCM16 little-endian bytes (clipped, rounded)."""
    scaled = np.clip(np.rint(samples * 32767.0), -32768, 32767)
    return bytes(scaled.astype("<i2").tobytes())
