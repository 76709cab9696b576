"""Output encoders (PCM, G.711 μ-law/A-law) and inbound WAV/compressed decoding."""

from __future__ import annotations

import io
import math
import random
import struct
import subprocess
import warnings
import wave
from array import array

import pytest

from server.speech.audio_format import (
    ALawEncoder,
    MuLawEncoder,
    PcmConverter,
    PcmEncoder,
    WavStreamDecoder,
    decode_to_pcm24k,
    make_encoder,
    wav_to_pcm24k,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE = 24_000


def tone(freq: float, count: int, *, rate: int = RATE, amplitude: int = 10_000) -> bytes:
    """A sine wave as PCM16 mono."""
    samples = [round(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(count)]
    return array("h", samples).tobytes()


def in_chunks(data: bytes, seed: int, *, step: int = 1) -> list[bytes]:
    """Split ``data`` into random-size pieces whose sizes are multiples of ``step``."""
    rng = random.Random(seed)
    pieces, index = [], 0
    while index < len(data):
        size = rng.randint(1, 700) * step
        pieces.append(data[index : index + size])
        index += size
    return pieces


def ffmpeg(*args: str, data: bytes) -> bytes:
    """Run ffmpeg on ``data`` (stdin to stdout) and return what it wrote."""
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", *args]
    return subprocess.run(argv, input=data, capture_output=True, check=True).stdout


def rms_error(a: bytes, b: bytes) -> float:
    """RMS of the difference of two PCM16 signals, relative to the RMS of ``b``."""
    diff = audioop.add(a, audioop.mul(b, 2, -1), 2)
    return audioop.rms(diff, 2) / audioop.rms(b, 2)


G711 = [(MuLawEncoder, audioop.ulaw2lin, "mulaw"), (ALawEncoder, audioop.alaw2lin, "alaw")]


@pytest.mark.parametrize(("encoder_class", "decode", "_ffmpeg"), G711)
def test_g711_round_trip_keeps_an_in_band_tone(encoder_class, decode, _ffmpeg) -> None:
    pcm = tone(440, RATE)  # one second
    encoded = encoder_class().encode(pcm)
    assert len(encoded) == RATE // 3  # one byte per 8 kHz sample
    decoded = decode(encoded, 2)
    # The low-pass filter delays by 31 input samples; compare with the tone at 8 kHz.
    expected = array("h", [0] * len(encoded))
    for i in range(len(encoded)):
        expected[i] = round(10_000 * math.sin(2 * math.pi * 440 * (3 * i - 31) / RATE))
    assert rms_error(decoded[200:], expected.tobytes()[200:]) < 0.05


@pytest.mark.parametrize(("encoder_class", "decode", "_ffmpeg"), G711)
def test_g711_removes_tones_above_4_khz_instead_of_aliasing_them(
    encoder_class, decode, _ffmpeg
) -> None:
    pcm = tone(6000, RATE)
    decoded = decode(encoder_class().encode(pcm), 2)
    assert audioop.rms(decoded[400:], 2) < 0.05 * audioop.rms(pcm, 2)


@pytest.mark.parametrize(("encoder_class", "_decode", "ffmpeg_format"), G711)
def test_g711_bytes_are_standard_as_ffmpeg_reads_them(
    encoder_class, _decode, ffmpeg_format
) -> None:
    encoded = encoder_class().encode(tone(700, RATE // 2))
    decoded = ffmpeg(
        *("-f", ffmpeg_format, "-ar", "8000", "-ac", "1", "-i", "pipe:0"),
        *("-f", "s16le", "pipe:1"),
        data=encoded,
    )
    assert len(decoded) == 2 * len(encoded)
    assert decoded == _decode(encoded, 2)


@pytest.mark.parametrize("encoder_class", [MuLawEncoder, ALawEncoder, PcmEncoder])
def test_chunked_encoding_equals_one_call(encoder_class) -> None:
    pcm = tone(523, RATE) + tone(3000, 5000)
    whole = encoder_class().encode(pcm)
    encoder = encoder_class()
    # Odd-sized pieces too: a sample split across calls must be carried, not dropped.
    pieces = in_chunks(pcm, seed=7)
    assert b"".join(encoder.encode(piece) for piece in pieces) == whole
    if encoder_class is not PcmEncoder:
        assert len(whole) == len(pcm) // 2 // 3 + (len(pcm) // 2 % 3 > 0)


def test_pcm_encoder_is_identity() -> None:
    pcm = tone(440, 1000)
    assert make_encoder("audio/pcm").encode(pcm) == pcm


def test_make_encoder_knows_the_session_formats() -> None:
    assert isinstance(make_encoder("audio/pcmu"), MuLawEncoder)
    assert isinstance(make_encoder("audio/pcma"), ALawEncoder)
    with pytest.raises(ValueError, match="audio/pcm"):
        make_encoder("audio/opus")


def test_resampler_state_across_chunks_equals_one_call() -> None:
    pcm = tone(440, 22_050, rate=22_050)
    whole = PcmConverter(22_050).convert(pcm)
    assert abs(len(whole) / 2 - RATE) <= 2
    converter = PcmConverter(22_050)
    assert b"".join(converter.convert(piece) for piece in in_chunks(pcm, seed=3)) == whole


def make_wav(pcm: bytes, *, rate: int, channels: int = 1, width: int = 2) -> bytes:
    """A well-formed WAV file made by the standard library."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(pcm)
    return buffer.getvalue()


def test_wav_at_16_khz_is_resampled_to_24_khz() -> None:
    pcm16k = tone(440, 16_000, rate=16_000)
    out = wav_to_pcm24k(make_wav(pcm16k, rate=16_000))
    assert abs(len(out) / 2 - RATE) <= 2
    assert rms_error(out[2000:4000], tone(440, 24_000)[2000:4000]) < 0.05


def test_stereo_and_8_bit_wav_become_mono_pcm16() -> None:
    left = tone(440, 24_000)
    stereo = audioop.tostereo(left, 2, 1, 1)
    assert wav_to_pcm24k(make_wav(stereo, rate=RATE, channels=2)) == left
    unsigned = audioop.bias(audioop.lin2lin(left, 2, 1), 1, 128)
    out = wav_to_pcm24k(make_wav(unsigned, rate=RATE, width=1))
    assert rms_error(out, left) < 0.04  # 8-bit quantisation noise


def test_streamed_wav_with_placeholder_sizes_is_read_to_the_end() -> None:
    pcm = tone(440, 22_050, rate=22_050)
    wav = bytearray(make_wav(pcm, rate=22_050))
    # What espeak-ng --stdout writes: sizes it could not know yet.
    struct.pack_into("<I", wav, 4, 0x7FFFF024)
    struct.pack_into("<I", wav, 40, 0x7FFFF000)
    decoder = WavStreamDecoder()
    out = b"".join(decoder.feed(bytes([byte])) for byte in wav) + decoder.finish()
    assert out == wav_to_pcm24k(bytes(wav)) == PcmConverter(22_050).convert(pcm)


def test_wav_chunks_before_data_are_skipped() -> None:
    pcm = tone(440, 2400)
    wav = make_wav(pcm, rate=RATE)
    extra = b"LIST" + struct.pack("<I", 5) + b"INFOx\x00"  # odd size, padded
    wav = wav[:36] + extra + wav[36:]
    assert wav_to_pcm24k(wav) == pcm


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"ID3 not a wav file at all", "RIFF"),
        (b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00", "before its fmt"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "ended before"),
    ],
)
def test_broken_wav_raises_value_error(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wav_to_pcm24k(data)


def test_float_wav_is_refused() -> None:
    wav = bytearray(make_wav(tone(440, 100), rate=RATE))
    struct.pack_into("<H", wav, 20, 3)  # WAVE_FORMAT_IEEE_FLOAT
    with pytest.raises(ValueError, match="format tag"):
        wav_to_pcm24k(bytes(wav))


def test_mp3_is_decoded_to_24_khz_pcm() -> None:
    pcm = tone(440, RATE)
    mp3 = ffmpeg(
        *("-f", "s16le", "-ar", "24000", "-ac", "1", "-i", "pipe:0", "-f", "mp3", "pipe:1"),
        data=pcm,
    )
    out = decode_to_pcm24k(mp3, "mp3")
    assert 0.95 < len(out) / len(pcm) < 1.15  # mp3 adds encoder padding
    assert audioop.rms(out, 2) > 0.8 * audioop.rms(pcm, 2)


def test_undecodable_audio_raises_value_error() -> None:
    with pytest.raises(ValueError, match="could not decode"):
        decode_to_pcm24k(b"\x00\x01 this is not an mp3" * 10, "mp3")
    with pytest.raises(ValueError, match="unsupported"):
        decode_to_pcm24k(b"", "midi")
