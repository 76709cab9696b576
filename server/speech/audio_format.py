"""Audio conversions around our internal format, PCM16 mono 24 kHz little-endian.

Inbound (what speech engines give us) is turned into that format by
``PcmConverter``, ``WavStreamDecoder``, ``wav_to_pcm24k`` and ``decode_to_pcm24k``;
outbound (what a session asked for) by one streaming ``Encoder`` per format.
Every streaming class keeps its state across chunks, so feeding audio in pieces
gives exactly the bytes one call would.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from abc import ABC, abstractmethod
from array import array
from typing import ClassVar

from server.protocol import PCM_RATE

with warnings.catch_warnings():
    # Deprecated in 3.11-3.12 and provided by audioop-lts from 3.13; it is still the
    # only stdlib resampler and G.711 codec, and pydub needs it anyway.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

# Sizes at or above this in a chunk we must skip are garbage, not metadata.
_MAX_SKIPPED_CHUNK = 1 << 20
_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# ffmpeg demuxer names for the compressed formats speech endpoints return.
_DEMUXERS = {
    "mp3": "mp3",
    "opus": "ogg",
    "ogg": "ogg",
    "aac": "aac",
    "flac": "flac",
    "webm": "webm",  # what browsers' MediaRecorder makes (uploads to /v1/audio/transcriptions)
}


class PcmConverter:
    """Converts a stream of integer PCM frames to PCM16 mono 24 kHz, chunk by chunk."""

    def __init__(self, rate: int, *, channels: int = 1, width: int = 2) -> None:
        if channels not in (1, 2):
            raise ValueError(f"unsupported channel count {channels} (only mono and stereo)")
        if width not in (1, 2, 3, 4):
            raise ValueError(f"unsupported sample width {width} bytes")
        if rate <= 0:
            raise ValueError(f"invalid sample rate {rate}")
        self.rate = rate
        self.channels = channels
        self.width = width
        self._frame = channels * width
        self._carry = b""
        self._state: tuple[int, tuple[tuple[int, int], ...]] | None = None

    def convert(self, data: bytes) -> bytes:
        """Return converted audio for ``data``; a partial trailing frame waits for the next call."""
        data = self._carry + data
        whole = len(data) - len(data) % self._frame
        self._carry = data[whole:]
        pcm = data[:whole]
        if not pcm:
            return b""
        if self.width == 1:
            # 8-bit WAV is unsigned; audioop's 1-byte samples are signed.
            pcm = audioop.bias(pcm, 1, -128)
        if self.width != 2:
            pcm = audioop.lin2lin(pcm, self.width, 2)
        if self.channels == 2:
            pcm = audioop.tomono(pcm, 2, 0.5, 0.5)
        if self.rate != PCM_RATE:
            pcm, self._state = audioop.ratecv(pcm, 2, 1, self.rate, PCM_RATE, self._state)
        return pcm


class WavStreamDecoder:
    """Parses a WAV byte stream fed in arbitrary pieces and yields PCM16 mono 24 kHz.

    The declared RIFF and data sizes are ignored: streaming writers (espeak-ng
    ``--stdout``, ffmpeg to a pipe, Python's ``wave`` on a socket) cannot seek
    back to fill them in, so they carry placeholders. Data runs until EOF.
    """

    def __init__(self) -> None:
        self._head = bytearray()
        self._converter: PcmConverter | None = None
        self._in_data = False

    @property
    def converter(self) -> PcmConverter | None:
        """The converter built from the fmt chunk, once it has been read."""
        return self._converter

    def feed(self, data: bytes) -> bytes:
        """Consume more of the stream; return the PCM it completes (maybe empty)."""
        if self._in_data:
            assert self._converter is not None
            return self._converter.convert(data)
        self._head += data
        return self._parse_head()

    def finish(self) -> bytes:
        """Mark the end of the stream; raise ValueError if no audio data ever started."""
        if not self._in_data:
            raise ValueError("the WAV stream ended before its data chunk")
        return b""

    def _parse_head(self) -> bytes:
        head = self._head
        if len(head) < 12:
            return b""
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError("not a WAV stream (no RIFF/WAVE header)")
        pos = 12
        while len(head) >= pos + 8:
            chunk_id = bytes(head[pos : pos + 4])
            (size,) = struct.unpack_from("<I", head, pos + 4)
            body = pos + 8
            if chunk_id == b"data":
                if self._converter is None:
                    raise ValueError("WAV data chunk comes before its fmt chunk")
                self._in_data = True
                rest = bytes(head[body:])
                self._head = bytearray()
                return self._converter.convert(rest)
            if size >= _MAX_SKIPPED_CHUNK:
                raise ValueError(f"WAV chunk {chunk_id!r} declares an implausible size {size}")
            end = body + size + (size & 1)  # chunks are padded to even sizes
            if len(head) < end:
                return b""
            if chunk_id == b"fmt ":
                self._converter = _converter_from_fmt(bytes(head[body : body + size]))
            pos = end
        return b""


def _converter_from_fmt(fmt: bytes) -> PcmConverter:
    if len(fmt) < 16:
        raise ValueError("WAV fmt chunk is too short")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _WAVE_FORMAT_EXTENSIBLE and len(fmt) >= 26:
        (tag,) = struct.unpack_from("<H", fmt, 24)  # first field of the SubFormat GUID
    if tag != _WAVE_FORMAT_PCM:
        raise ValueError(f"unsupported WAV encoding (format tag {tag:#06x}); need integer PCM")
    if bits % 8:
        raise ValueError(f"unsupported WAV sample size {bits} bits")
    return PcmConverter(rate, channels=channels, width=bits // 8)


def wav_to_pcm24k(data: bytes) -> bytes:
    """Convert a whole WAV file to PCM16 mono 24 kHz; raises ValueError if it is not one."""
    decoder = WavStreamDecoder()
    pcm = decoder.feed(data)
    return pcm + decoder.finish()


def decode_to_pcm24k(data: bytes, fmt: str) -> bytes:
    """Decode compressed audio (mp3, opus, aac, flac, wav) to PCM16 mono 24 kHz with pydub.

    Blocking (it runs ffmpeg): call it from a worker thread. Raises ValueError
    when the bytes cannot be decoded.
    """
    if fmt == "wav":
        return wav_to_pcm24k(data)
    if fmt not in _DEMUXERS:
        raise ValueError(f"unsupported compressed audio format {fmt!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment
        from pydub.exceptions import CouldntDecodeError

    try:
        segment = AudioSegment.from_file(io.BytesIO(data), format=_DEMUXERS[fmt])
    except (CouldntDecodeError, IndexError, KeyError) as exc:
        # pydub raises IndexError/KeyError when ffprobe finds no audio stream at all.
        raise ValueError(f"could not decode {fmt} audio: {_first_line(str(exc))}") from None
    segment = segment.set_channels(1).set_sample_width(2).set_frame_rate(PCM_RATE)
    return bytes(segment.raw_data)


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "unknown error"


def _lowpass_taps(count: int, cutoff: float, rate: int) -> tuple[float, ...]:
    """Hamming-windowed sinc low-pass taps with unit gain at DC."""
    mid = (count - 1) / 2
    taps = []
    for n in range(count):
        x = n - mid
        ideal = (
            2 * cutoff / rate
            if x == 0
            else math.sin(2 * math.pi * cutoff * x / rate) / (math.pi * x)
        )
        taps.append(ideal * (0.54 - 0.46 * math.cos(2 * math.pi * n / (count - 1))))
    total = sum(taps)
    return tuple(t / total for t in taps)


# 63 taps put the stop band at about 4 kHz (the 8 kHz Nyquist limit) while keeping the
# telephone band (300-3400 Hz) flat; plain linear interpolation would alias sibilants.
_TAPS = _lowpass_taps(63, 3400, PCM_RATE)
# Samples are widened to 32 bits and scaled down by this much so partial sums of the
# filter have headroom before audioop saturates them.
_HEADROOM = 4.0


class _Decimator:
    """Low-pass filters PCM16 mono 24 kHz and keeps every third sample (8 kHz)."""

    def __init__(self) -> None:
        self._history = array("i", [0] * (len(_TAPS) - 1))
        self._phase = 0  # index, in the next chunk, of the next sample to keep
        self._carry = b""

    def process(self, pcm: bytes) -> bytes:
        """Return the 8 kHz samples for the next chunk of 24 kHz PCM16."""
        pcm = self._carry + pcm
        whole = len(pcm) & ~1
        self._carry = pcm[whole:]
        if not whole:
            return b""
        samples = array("i")
        samples.frombytes(audioop.mul(audioop.lin2lin(pcm[:whole], 2, 4), 4, 1 / _HEADROOM))
        extended = self._history + samples
        lag = len(self._history)
        count = len(range(self._phase, len(samples), 3))
        out = b""
        if count:
            acc = b""
            for k, tap in enumerate(_TAPS):
                start = lag + self._phase - k
                term = audioop.mul(extended[start : start + 3 * (count - 1) + 1 : 3], 4, tap)
                acc = audioop.add(acc, term, 4) if acc else term
            out = audioop.lin2lin(audioop.mul(acc, 4, _HEADROOM), 4, 2)
        self._phase = (self._phase - len(samples)) % 3
        self._history = extended[len(extended) - lag :]
        return out


class Encoder(ABC):
    """Streaming converter from PCM16 mono 24 kHz to one session output format."""

    format: ClassVar[str]

    @abstractmethod
    def encode(self, pcm: bytes) -> bytes:
        """Return the encoded bytes for the next chunk of PCM16 mono 24 kHz."""


class PcmEncoder(Encoder):
    """``audio/pcm``: our internal format, passed through."""

    format = "audio/pcm"

    def encode(self, pcm: bytes) -> bytes:
        """Return ``pcm`` unchanged."""
        return pcm


class MuLawEncoder(Encoder):
    """``audio/pcmu``: G.711 μ-law at 8 kHz mono."""

    format = "audio/pcmu"

    def __init__(self) -> None:
        self._decimator = _Decimator()

    def encode(self, pcm: bytes) -> bytes:
        """Return μ-law bytes (one per 8 kHz sample) for the next chunk."""
        return audioop.lin2ulaw(self._decimator.process(pcm), 2)


class ALawEncoder(Encoder):
    """``audio/pcma``: G.711 A-law at 8 kHz mono."""

    format = "audio/pcma"

    def __init__(self) -> None:
        self._decimator = _Decimator()

    def encode(self, pcm: bytes) -> bytes:
        """Return A-law bytes (one per 8 kHz sample) for the next chunk."""
        return audioop.lin2alaw(self._decimator.process(pcm), 2)


ENCODERS: dict[str, type[Encoder]] = {
    cls.format: cls for cls in (PcmEncoder, MuLawEncoder, ALawEncoder)
}


def make_encoder(fmt: str) -> Encoder:
    """Return a fresh encoder for a session output format such as ``audio/pcmu``."""
    try:
        return ENCODERS[fmt]()
    except KeyError:
        known = ", ".join(sorted(ENCODERS))
        raise ValueError(f"unknown audio format {fmt!r}; expected one of {known}") from None
