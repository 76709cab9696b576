"""EspeakTTS against the real espeak-ng: audio, streaming, cancellation, failures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

from server.errors import TTSError, TTSUnavailable
from server.speech import PROVIDERS, TTSProvider, make_tts
from server.speech.espeak import MISSING_MESSAGE, EspeakTTS

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

pytestmark = pytest.mark.timeout(60)

BYTES_PER_SECOND = 24_000 * 2
LONG_TEXT = " ".join(f"This is sentence number {i} of a long answer." for i in range(400))


async def speak(tts: TTSProvider, text: str, **options: Any) -> list[bytes]:
    """All chunks a provider yields for ``text``."""
    return [chunk async for chunk in tts.synthesize(text, **options)]


def espeak_children() -> dict[int, str]:
    """Our own espeak-ng child processes (zombies included), by pid, with their state."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, parent = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(parent) == os.getpid() and name.startswith("espeak"):
            found[int(entry.name)] = state
    return found


async def wait_until_gone(pids: set[int]) -> None:
    """Wait (generously) until none of ``pids`` exists any more, not even as a zombie."""
    for _ in range(200):
        if not pids & set(espeak_children()):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"espeak-ng processes still present: {espeak_children()}")


@pytest.mark.parametrize(
    "text", ["Hello world.", "The quick brown fox jumps over the lazy dog.", "Yes!"]
)
async def test_speech_is_audible_and_plausibly_long(text: str) -> None:
    chunks = await speak(EspeakTTS(), text)
    pcm = b"".join(chunks)
    assert all(len(chunk) % 2 == 0 for chunk in chunks)  # whole samples only
    assert audioop.rms(pcm, 2) > 500
    assert 0.3 < len(pcm) / BYTES_PER_SECOND < 3.0


async def test_output_is_resampled_from_22050_to_24000_hz() -> None:
    text = "Resampling keeps the duration the same."
    direct = await asyncio.create_subprocess_exec(
        *("espeak-ng", "--stdout", "-v", "en-us", "-s", "175"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    raw, _ = await direct.communicate(text.encode())
    assert int.from_bytes(raw[24:28], "little") == 22_050
    source_samples = (len(raw) - (raw.index(b"data") + 8)) // 2
    ours = len(b"".join(await speak(EspeakTTS(), text))) // 2
    assert abs(ours - source_samples * 24_000 / 22_050) < 0.005 * ours


async def test_a_faster_rate_gives_shorter_audio() -> None:
    text = "Speaking faster takes less time than speaking slowly."
    slow = b"".join(await speak(EspeakTTS(rate=120), text))
    fast = b"".join(await speak(EspeakTTS(rate=300), text))
    assert len(fast) < 0.7 * len(slow)


async def test_first_chunk_arrives_while_espeak_is_still_running() -> None:
    stream = EspeakTTS().synthesize(LONG_TEXT)
    first = await anext(stream)
    running = espeak_children()
    try:
        assert first
        assert running and all(state != "Z" for state in running.values())
    finally:
        await asyncio.wait_for(stream.aclose(), 10)
    await wait_until_gone(set(running))


async def test_closing_the_stream_kills_and_reaps_espeak() -> None:
    stream = EspeakTTS().synthesize(LONG_TEXT)
    await anext(stream)
    pids = set(espeak_children())
    assert len(pids) == 1
    await asyncio.wait_for(stream.aclose(), 10)
    # Reaped in aclose itself: no zombie remains, with no waiting.
    assert not pids & set(espeak_children())


async def test_a_consumer_that_fell_behind_can_still_close_the_stream() -> None:
    # espeak-ng runs ahead of a slow consumer until the pipe is paused; closing must still
    # kill and reap it (a paused pipe once made the close wait for ever).
    stream = EspeakTTS().synthesize(LONG_TEXT * 4)
    await anext(stream)
    pids = set(espeak_children())
    await asyncio.sleep(1.0)  # espeak-ng fills the pipe meanwhile
    await asyncio.wait_for(stream.aclose(), 10)
    assert not pids & set(espeak_children())


async def test_cancelling_the_consumer_kills_and_reaps_espeak() -> None:
    started = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(EspeakTTS().synthesize(LONG_TEXT)) as stream:
            async for _chunk in stream:
                started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 10)
    pids = set(espeak_children())
    assert pids
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    await wait_until_gone(pids)


async def test_missing_executable_is_unavailable() -> None:
    tts = EspeakTTS(executable="espeak-ng-that-does-not-exist")
    with pytest.raises(TTSUnavailable) as caught:
        await speak(tts, "Hello.")
    assert caught.value.message == MISSING_MESSAGE
    assert "apt install espeak-ng" in str(caught.value)


@pytest.mark.parametrize(
    "template", ["--help me, this text starts with dashes.", "-w {out} -v xx is just words."]
)
async def test_text_starting_with_a_dash_is_spoken_not_parsed(
    template: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.wav"
    pcm = b"".join(await speak(EspeakTTS(), template.format(out=out)))
    assert audioop.rms(pcm, 2) > 500
    assert len(pcm) / BYTES_PER_SECOND > 1.5  # the whole sentence, not a help screen
    assert not out.exists()  # "-w FILE" was not taken as an option


async def test_unknown_voice_fails_with_espeaks_message() -> None:
    with pytest.raises(TTSError) as caught:
        await speak(EspeakTTS(voice="xx-no-such-voice"), "Hello.")
    assert not isinstance(caught.value, TTSUnavailable)
    assert "does not exist" in str(caught.value)
    assert "exit status" in str(caught.value)


@pytest.mark.parametrize("voice", ["-w", "--stdin", "en us", ""])
async def test_voice_names_that_could_be_options_are_refused(voice: str) -> None:
    with pytest.raises(TTSError, match="invalid espeak-ng voice"):
        if voice:
            await speak(EspeakTTS(), "Hello.", voice=voice)
        else:
            EspeakTTS(voice=voice)


async def test_per_call_voice_is_used() -> None:
    default = b"".join(await speak(EspeakTTS(), "Hello there, friend."))
    other = b"".join(await speak(EspeakTTS(), "Hello there, friend.", voice="en-gb+f3"))
    assert other and other != default


def fake_espeak(tmp_path: Path, script: str) -> str:
    """A stand-in espeak-ng executable that reads stdin and then runs ``script``."""
    path = tmp_path / "espeak-ng"
    path.write_text(f"#!/bin/sh\ncat > /dev/null\n{script}\n")
    path.chmod(0o755)
    return str(path)


async def test_a_crash_is_a_tts_error_with_stderr(tmp_path: Path) -> None:
    executable = fake_espeak(tmp_path, 'echo "boom:   something\n  broke" >&2\nexit 3')
    with pytest.raises(TTSError) as caught:
        await speak(EspeakTTS(executable=executable), "Hello.")
    assert not isinstance(caught.value, TTSUnavailable)
    assert "exit status 3" in str(caught.value)
    assert "boom: something broke" in str(caught.value)  # whitespace trimmed


async def test_output_that_is_not_wav_is_a_tts_error(tmp_path: Path) -> None:
    executable = fake_espeak(tmp_path, "echo 'Usage: espeak-ng [options] [words]'")
    with pytest.raises(TTSError, match="not WAV"):
        await speak(EspeakTTS(executable=executable), "Hello.")


async def test_no_audio_at_all_is_a_tts_error(tmp_path: Path) -> None:
    executable = fake_espeak(tmp_path, "exit 0")
    with pytest.raises(TTSError, match="no audio"):
        await speak(EspeakTTS(executable=executable), "Hello.")


async def test_blank_text_yields_nothing_and_starts_nothing() -> None:
    tts = EspeakTTS(executable="espeak-ng-that-does-not-exist")
    assert await speak(tts, "  \n ") == []


def test_registry_builds_providers_by_name() -> None:
    assert set(PROVIDERS) == {"espeak", "openai", "piper"}
    tts = make_tts("espeak", voice="en-gb", rate=200)
    assert isinstance(tts, EspeakTTS)
    assert (tts.name, tts.voice, tts.rate) == ("espeak", "en-gb", 200)
    with pytest.raises(ValueError, match="none"):
        make_tts("festival")
