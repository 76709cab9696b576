"""Turn the audio the server sends into PCM16 mono 24 kHz for the player.

Errors::

    DecodeError            bytes that cannot be decoded (message in plain words)
    └── UnsupportedFormat  a format name we do not know

PCM-like formats (``audio/pcm``, G.711 ``audio/pcmu``/``audio/pcma``) convert
sample by sample, so ``SegmentAssembler`` passes them through as frames
arrive. Container formats (``audio/wav``, ``audio/mpeg``, ``audio/opus``) are
decoded once per complete segment with pydub/ffmpeg, never per network frame.
Everything here blocks: call it from a worker thread, not the UI thread.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Protocol

from server.protocol import PCM_CHANNELS, PCM_RATE, PCM_SAMPLE_WIDTH
from tui.errors import DecodeError, UnsupportedFormat

with warnings.catch_warnings():
    # Deprecated in 3.11-3.12 and provided by audioop-lts from 3.13; it is the only
    # stdlib G.711 codec and resampler, and pydub needs it anyway.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

_G711_RATE = 8000
# ffmpeg demuxer names for the container formats.
_CONTAINERS: dict[str, str] = {
    "audio/wav": "wav",
    "audio/wave": "wav",
    "audio/x-wav": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/opus": "ogg",
    "audio/ogg": "ogg",
}


class _Converter(Protocol):
    """A stateful converter from one PCM-like format to PCM16 mono 24 kHz."""

    def convert(self, data: bytes) -> bytes:
        """Return the PCM for the next piece; keep any partial sample for later."""
        ...


class _PcmPassthrough:
    """``audio/pcm``: already our format; only odd bytes wait for their partner."""

    def __init__(self) -> None:
        self._carry = b""

    def convert(self, data: bytes) -> bytes:
        """Return whole samples, holding back a trailing odd byte."""
        if self._carry:
            data = self._carry + data
        if len(data) & 1:
            self._carry = data[-1:]
            return data[:-1]
        self._carry = b""
        return data


class _G711:
    """G.711 at 8 kHz to PCM16 at 24 kHz, resampler state kept across pieces."""

    def __init__(self, expand: Callable[[bytes, int], bytes]) -> None:
        self._expand = expand
        self._state: tuple[int, tuple[tuple[int, int], ...]] | None = None

    def convert(self, data: bytes) -> bytes:
        """Expand and upsample one piece (one byte per 8 kHz sample)."""
        if not data:
            return b""
        linear = self._expand(data, PCM_SAMPLE_WIDTH)
        pcm, self._state = audioop.ratecv(
            linear, PCM_SAMPLE_WIDTH, PCM_CHANNELS, _G711_RATE, PCM_RATE, self._state
        )
        return pcm


_STREAMABLE: dict[str, Callable[[], _Converter]] = {
    "audio/pcm": _PcmPassthrough,
    "audio/pcmu": lambda: _G711(audioop.ulaw2lin),
    "audio/pcma": lambda: _G711(audioop.alaw2lin),
}


def _normalise(fmt: str) -> str:
    """``Audio/PCM; rate=24000`` → ``audio/pcm``: parameters are fixed by the protocol."""
    return fmt.split(";", 1)[0].strip().lower()


def _known() -> str:
    return ", ".join(sorted({*_STREAMABLE, *_CONTAINERS}))


def is_streamable(fmt: str) -> bool:
    """Whether ``fmt`` can be played frame by frame as it arrives."""
    return _normalise(fmt) in _STREAMABLE


def decode_segment(fmt: str, data: bytes) -> bytes:
    """Decode one complete segment of ``fmt`` audio to PCM16 mono 24 kHz."""
    name = _normalise(fmt)
    if name == "audio/pcm":
        return data if not len(data) & 1 else data[:-1]
    if name in _STREAMABLE:
        return _STREAMABLE[name]().convert(data)
    if name in _CONTAINERS:
        return _decode_container(_CONTAINERS[name], data)
    raise UnsupportedFormat(f"Cannot play audio in format {fmt!r}; known formats: {_known()}.")


def _decode_container(demuxer: str, data: bytes) -> bytes:
    """Decode a whole wav/mp3/ogg file with pydub (ffmpeg for all but plain WAV)."""
    if not data:
        return b""
    with warnings.catch_warnings():
        # pydub warns at import about audioop, and about ffmpeg before it is needed.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        from pydub import AudioSegment
        from pydub.exceptions import CouldntDecodeError

    try:
        segment = AudioSegment.from_file(io.BytesIO(data), format=demuxer)
    except FileNotFoundError:
        raise DecodeError(
            f"Decoding {demuxer} audio needs ffmpeg, which is not installed."
        ) from None
    except (CouldntDecodeError, IndexError, KeyError, ValueError) as exc:
        # pydub raises IndexError/KeyError when ffmpeg finds no audio stream at all.
        raise DecodeError(f"Could not decode {demuxer} audio: {_last_line(str(exc))}") from None
    segment = segment.set_channels(PCM_CHANNELS).set_sample_width(PCM_SAMPLE_WIDTH)
    return bytes(segment.set_frame_rate(PCM_RATE).raw_data)


def _last_line(text: str) -> str:
    """ffmpeg's last non-empty line says what went wrong; the rest is its banner."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "unknown error"


class SegmentAssembler:
    """Collects one segment's streamed frames and hands back PCM16 mono 24 kHz."""

    def __init__(self, fmt: str) -> None:
        name = _normalise(fmt)
        if name not in _STREAMABLE and name not in _CONTAINERS:
            raise UnsupportedFormat(
                f"Cannot play audio in format {fmt!r}; known formats: {_known()}."
            )
        self.format = name
        self.streamable = name in _STREAMABLE
        self._converter: _Converter | None = None
        self._pending = bytearray()
        self._reset()

    def _reset(self) -> None:
        self._pending.clear()
        self._converter = _STREAMABLE[self.format]() if self.streamable else None

    def add(self, data: bytes) -> bytes:
        """Take one network frame; return the PCM ready now (empty for container formats)."""
        if self._converter is not None:
            return self._converter.convert(data)
        self._pending += data
        return b""

    def finish(self) -> bytes:
        """End the segment: return the PCM still owed, and get ready for the next one."""
        try:
            if self._converter is not None:
                # A dangling odd byte of PCM is half a sample: nothing to play.
                return b""
            return _decode_container(_CONTAINERS[self.format], bytes(self._pending))
        finally:
            self._reset()
