"""PiperTTS with the real bundled voice: audio, voices, speed, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from server.errors import TTSError
from server.speech import TTSProvider, make_tts
from server.speech.piper import DEFAULT_VOICE, REALTIME_VOICES, PiperTTS, find_voices
from server.speech.resample import resample
from tests.helpers.waiting import wait_for

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

pytestmark = pytest.mark.timeout(120)

BYTES_PER_SECOND = 24_000 * 2
FOX = "The quick brown fox jumps over the lazy dog."
# One Piper sentence (no full stop inside) that takes well over a second to synthesise.
LONG_SENTENCE = "Then " + ", ".join(f"the number {i} comes after that one" for i in range(10)) + "."


@pytest.fixture(scope="module")
def piper() -> Iterator[PiperTTS]:
    """One warm engine for the module, as the server keeps one for all sessions."""
    tts = PiperTTS()
    yield tts
    asyncio.run(tts.aclose())


async def speak(tts: TTSProvider, text: str, **options: object) -> bytes:
    """All audio a provider yields for ``text``."""
    return b"".join([chunk async for chunk in tts.synthesize(text, **options)])  # type: ignore[arg-type]


def seconds(pcm: bytes) -> float:
    return len(pcm) / BYTES_PER_SECOND


async def test_speaks_the_text_at_24_khz(piper: PiperTTS) -> None:
    pcm = await speak(piper, FOX)
    assert len(pcm) % 2 == 0
    assert 1.5 < seconds(pcm) < 5  # a nine-word sentence, spoken
    assert audioop.rms(pcm, 2) > 1000  # speech, not silence or hiss
    assert piper.voice == DEFAULT_VOICE


def test_resampler_keeps_pitch_and_length() -> None:
    # A 1 kHz tone at Piper's 22050 Hz must still be 1 kHz, one second long, at 24 kHz.
    tone = np.sin(2 * np.pi * 1000 * np.arange(22050) / 22050)
    out = resample(tone, 22050, 24000)
    assert out.size == 24000
    crossings = np.count_nonzero(np.diff(np.signbit(out[100:-100])))
    assert abs(crossings / 2 / (23800 / 24000) - 1000) < 5
    reference = np.sin(2 * np.pi * 1000 * np.arange(24000) / 24000)
    assert np.max(np.abs(out[200:-200] - reference[200:-200])) < 0.01


async def test_differs_from_espeak(piper: PiperTTS) -> None:
    espeak = make_tts("espeak")
    neural, robotic = await speak(piper, FOX), await speak(espeak, FOX)
    assert neural != robotic
    # A rule-based synthesiser repeats itself to the byte; a neural voice samples
    # its timing and timbre afresh, so this cannot be espeak-ng in disguise.
    assert await speak(espeak, FOX) == robotic
    assert await speak(piper, FOX) != neural


async def test_cancel_mid_sentence_stops_synthesis(piper: PiperTTS) -> None:
    started = time.perf_counter()
    whole = await speak(piper, LONG_SENTENCE)
    full_time = time.perf_counter() - started
    assert full_time > 0.4  # long enough that a late stop would show
    stream = piper.synthesize(LONG_SENTENCE)
    first = asyncio.ensure_future(stream.__anext__())
    await wait_for(None, lambda: piper.running == 1, what="the one ONNX run started")
    assert not first.done()
    cancelled_at = time.perf_counter()
    first.cancel()  # what cancelling a response does to its synthesis task
    with contextlib.suppress(asyncio.CancelledError):
        await first
    await piper.idle()
    stopped_in = time.perf_counter() - cancelled_at
    assert stopped_in < min(0.1, full_time / 4), f"{stopped_in:.3f}s vs {full_time:.3f}s"
    assert seconds(whole) > 8


async def test_closing_between_sentences_drops_the_rest(piper: PiperTTS) -> None:
    stream = piper.synthesize(FOX + " " + LONG_SENTENCE)
    first = await stream.__anext__()
    assert 1 < seconds(first) < 5
    cancelled_at = time.perf_counter()
    await stream.aclose()
    await piper.idle()
    assert time.perf_counter() - cancelled_at < 0.1


async def test_speed_changes_duration_as_asked(piper: PiperTTS) -> None:
    async def mean_length(speed: float) -> float:
        runs = [seconds(await speak(piper, FOX, speed=speed)) for _ in range(3)]
        return sum(runs) / len(runs)

    normal = await mean_length(1.0)
    for speed in (0.5, 1.5):
        asked = normal / speed
        assert abs(await mean_length(speed) - asked) < 0.1 * asked, speed


async def test_a_pace_beyond_the_range_speaks_at_the_fastest(piper: PiperTTS) -> None:
    """--speed 1.2 with a session at 1.5 speaks at 1.5 (it used to fail every sentence)."""
    normal = seconds(await speak(piper, FOX))
    engine_speed = piper.speed
    piper.speed = 1.2
    try:
        fastest = seconds(await speak(piper, FOX, speed=1.5))
    finally:
        piper.speed = engine_speed
    assert abs(fastest - normal / 1.5) < 0.15 * normal / 1.5


def test_an_engine_speed_out_of_range_is_refused() -> None:
    with pytest.raises(TTSError, match=r"0\.25-1\.5"):
        PiperTTS(speed=3.0)


async def test_realtime_voice_names_mean_the_default(piper: PiperTTS) -> None:
    assert set(piper.voices()) >= {DEFAULT_VOICE, *REALTIME_VOICES}
    pcm = await speak(piper, "Hello there.", voice="alloy")
    assert audioop.rms(pcm, 2) > 1000


async def test_bad_voice_name_lists_valid_ones(piper: PiperTTS) -> None:
    with pytest.raises(TTSError) as caught:
        await speak(piper, FOX, voice="en_XX-nobody-low")
    assert "en_XX-nobody-low" in caught.value.message
    assert DEFAULT_VOICE in caught.value.message and "alloy" in caught.value.message


async def test_speaker_of_a_single_speaker_voice_is_refused(piper: PiperTTS) -> None:
    with pytest.raises(TTSError, match=r"1 speaker\(s\): use #0-#0"):
        await speak(piper, FOX, voice=f"{DEFAULT_VOICE}#3")
    assert audioop.rms(await speak(piper, "Hi.", voice=f"{DEFAULT_VOICE}#0"), 2) > 1000


async def test_onnx_path_and_voices_dir(tmp_path: Path, piper: PiperTTS) -> None:
    files = find_voices()[DEFAULT_VOICE]
    by_path = await speak(piper, "Hello.", voice=str(files.model))
    assert audioop.rms(by_path, 2) > 1000
    (tmp_path / "en_US-copy-medium.onnx").symlink_to(files.model)
    (tmp_path / "en_US-copy-medium.onnx.json").symlink_to(files.config)
    (tmp_path / "en_US-half-medium.onnx").symlink_to(files.model)  # no .json: not a voice
    assert "en_US-copy-medium" in find_voices([tmp_path])
    assert "en_US-half-medium" not in find_voices([tmp_path])
