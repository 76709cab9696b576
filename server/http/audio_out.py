"""Chat Completions audio formats from our PCM16 mono 24 kHz.

``pcm16`` is the PCM itself; ``wav`` is the PCM behind a RIFF header (streamed:
sizes unknown, so the header carries the placeholders streaming writers use);
``mp3`` and ``opus`` are whole files encoded by ffmpeg when the answer is done.
"""

from __future__ import annotations

import asyncio
import struct

from server import protocol as p
from server.errors import TTSError

_FFMPEG_FORMATS = {"mp3": ["-f", "mp3"], "opus": ["-c:a", "libopus", "-f", "ogg"]}
_UNKNOWN = 0xFFFFFFFF


def wav_header(data_bytes: int | None = None) -> bytes:
    """A 44-byte WAV header for PCM16 mono 24 kHz; sizes unknown when ``data_bytes`` is None."""
    rate, width = p.PCM_RATE, p.PCM_SAMPLE_WIDTH
    data = _UNKNOWN if data_bytes is None else data_bytes
    riff = _UNKNOWN if data_bytes is None else 36 + data_bytes
    return (
        struct.pack("<4sI4s", b"RIFF", riff, b"WAVE")
        + struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, rate, rate * width, width, 16)
        + struct.pack("<4sI", b"data", data)
    )


async def encode_file(pcm: bytes, fmt: str) -> bytes:
    """The whole answer's audio as one file of ``fmt``."""
    if fmt == "pcm16":
        return pcm
    if fmt == "wav":
        return wav_header(len(pcm)) + pcm
    return await _ffmpeg(pcm, _FFMPEG_FORMATS[fmt])


async def _ffmpeg(pcm: bytes, output: list[str]) -> bytes:
    rate = str(p.PCM_RATE)
    try:
        proc = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", rate, "-ac",
            "1", "-i", "pipe:0", *output, "pipe:1",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise TTSError(f"ffmpeg is needed to encode {output[-1]} audio: {exc}.") from exc
    try:
        out, err = await proc.communicate(pcm)
    finally:
        if proc.returncode is None:  # cancelled: the client went away
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise TTSError(f"ffmpeg could not encode the audio: {err.decode(errors='replace')[:200]}")
    return out
