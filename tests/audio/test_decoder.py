"""Decoding real wav/mp3/opus/G.711 audio made at test time with espeak-ng and ffmpeg."""

from __future__ import annotations

import random
import shutil
import subprocess
from array import array
from pathlib import Path

import pytest

from tests.helpers.recording import RATE, Recording
from tui.audio.decoder import SegmentAssembler, decode_segment
from tui.errors import DecodeError, UnsupportedFormat

pytestmark = pytest.mark.skipif(
    not (shutil.which("ffmpeg") and shutil.which("espeak-ng")),
    reason="needs ffmpeg and espeak-ng (apt-get install ffmpeg espeak-ng)",
)

TEXT = "The quick brown fox jumps over the lazy dog while the radio plays"
TONE_HZ = 1000

# ffmpeg output options per format: what a speech endpoint might send us.
ENCODINGS: dict[str, list[str]] = {
    "audio/wav": ["-f", "wav"],
    "audio/mpeg": ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"],
    "audio/opus": ["-c:a", "libopus", "-b:a", "32k", "-f", "ogg"],
    "audio/pcmu": ["-ar", "8000", "-ac", "1", "-f", "mulaw"],
    "audio/pcma": ["-ar", "8000", "-ac", "1", "-f", "alaw"],
}
# Codec delay and frame padding (mp3 ~50 ms, opus ~7 ms) lengthen the output a little.
LENGTH_SLACK_MS = {
    "audio/wav": 2,
    "audio/mpeg": 80,
    "audio/opus": 40,
    "audio/pcmu": 2,
    "audio/pcma": 2,
}


def ffmpeg(source: list[str], options: list[str]) -> bytes:
    """Run ffmpeg on ``source`` input options and return what it writes to stdout."""
    done = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", *source, *options, "pipe:1"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """espeak-ng speech as a WAV file at its own rate (22.05 kHz)."""
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), TEXT], check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def reference_pcm(speech_wav: Path) -> bytes:
    """The same speech as PCM16 mono 24 kHz, converted by ffmpeg, not by us."""
    return ffmpeg(["-i", str(speech_wav)], ["-ar", str(RATE), "-ac", "1", "-f", "s16le"])


def ms(pcm: bytes) -> float:
    return len(pcm) / 2 * 1000 / RATE


def dominant_hz(pcm: bytes) -> float:
    """Frequency of a pure tone, from its rising zero crossings, assuming 24 kHz."""
    samples = array("h")
    samples.frombytes(pcm)
    rising = [i for i in range(1, len(samples)) if samples[i - 1] < 0 <= samples[i]]
    return (len(rising) - 1) * RATE / (rising[-1] - rising[0])


@pytest.mark.parametrize("fmt", sorted(ENCODINGS))
def test_speech_decodes_to_the_right_length(
    fmt: str, speech_wav: Path, reference_pcm: bytes
) -> None:
    encoded = ffmpeg(["-i", str(speech_wav)], ENCODINGS[fmt])

    pcm = decode_segment(fmt, encoded)

    assert len(pcm) % 2 == 0
    assert ms(reference_pcm) - 2 <= ms(pcm) <= ms(reference_pcm) + LENGTH_SLACK_MS[fmt]
    heard, expected = Recording.of(pcm).speech_ms(), Recording.of(reference_pcm).speech_ms()
    assert expected > 1000
    assert abs(heard - expected) <= max(0.15 * expected, 100)


@pytest.mark.parametrize("fmt", sorted(ENCODINGS))
def test_a_tone_keeps_its_pitch(fmt: str) -> None:
    # Any wrong sample rate along the way shifts the pitch heard at 24 kHz.
    source = ["-f", "lavfi", "-i", f"sine=frequency={TONE_HZ}:sample_rate=44100:duration=1"]
    pcm = decode_segment(fmt, ffmpeg(source, ENCODINGS[fmt]))

    assert abs(ms(pcm) - 1000) <= LENGTH_SLACK_MS[fmt] + 2
    # Skip the codec's fade-in; a pitch off by one sample rate for another is 9 % or more.
    assert dominant_hz(pcm[4800:-4800]) == pytest.approx(TONE_HZ, rel=0.01)


def test_pcm_is_passed_through_untouched(reference_pcm: bytes) -> None:
    assert decode_segment("audio/pcm", reference_pcm) == reference_pcm
    assert decode_segment("audio/pcm", reference_pcm + b"\x01") == reference_pcm


@pytest.mark.parametrize("fmt", ["audio/pcm", "audio/pcmu", "audio/pcma"])
def test_streamed_frames_give_the_same_pcm_as_one_segment(fmt: str, speech_wav: Path) -> None:
    encoded = ffmpeg(["-i", str(speech_wav)], ENCODINGS.get(fmt, ["-ar", "24000", "-f", "s16le"]))
    assembler = SegmentAssembler(fmt)
    chunks, pos, rng = [], 0, random.Random(7)
    while pos < len(encoded):
        size = rng.randint(1, 999)  # odd sizes split PCM samples in two
        chunks.append(assembler.add(encoded[pos : pos + size]))
        pos += size

    assert assembler.streamable
    assert all(len(chunk) % 2 == 0 for chunk in chunks)
    assert b"".join(chunks) + assembler.finish() == decode_segment(fmt, encoded)


@pytest.mark.parametrize("fmt", ["audio/mpeg", "audio/opus", "audio/wav"])
def test_containers_wait_for_the_end_of_the_segment(
    fmt: str, speech_wav: Path, reference_pcm: bytes
) -> None:
    encoded = ffmpeg(["-i", str(speech_wav)], ENCODINGS[fmt])
    assembler = SegmentAssembler(fmt)

    early = [assembler.add(encoded[i : i + 1000]) for i in range(0, len(encoded), 1000)]
    pcm = assembler.finish()

    assert not assembler.streamable
    assert early == [b""] * len(early)
    assert pcm == decode_segment(fmt, encoded)
    assert abs(ms(pcm) - ms(reference_pcm)) <= LENGTH_SLACK_MS[fmt]
    # The assembler starts afresh for the next segment.
    assert assembler.add(encoded) == b""
    assert assembler.finish() == pcm


def test_unknown_formats_and_garbage_raise_clear_errors() -> None:
    with pytest.raises(UnsupportedFormat, match="audio/flac"):
        decode_segment("audio/flac", b"fLaC")
    with pytest.raises(UnsupportedFormat, match="known formats"):
        SegmentAssembler("text/plain")
    with pytest.raises(DecodeError, match="mp3"):
        decode_segment("audio/mpeg", b"this is not an mp3 file at all" * 50)


def test_format_names_are_matched_loosely() -> None:
    pcmu = bytes(range(256))
    assert decode_segment("Audio/PCMU; rate=8000", pcmu) == decode_segment("audio/pcmu", pcmu)
    assert len(decode_segment("audio/pcmu", pcmu)) == pytest.approx(256 * 3 * 2, abs=6)


def test_streamed_wav_with_placeholder_sizes_decodes(reference_pcm: bytes) -> None:
    # espeak-ng --stdout cannot seek back, so its RIFF and data sizes are placeholders.
    wav = subprocess.run(
        ["espeak-ng", "--stdout", TEXT], capture_output=True, check=True, timeout=60
    ).stdout

    pcm = decode_segment("audio/wav", wav)

    assert abs(ms(pcm) - ms(reference_pcm)) <= 5
