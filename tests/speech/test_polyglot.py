"""The voice for each language: Piper's if installed, else espeak-ng's, else the session's."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from server.speech.espeak import EspeakTTS
from server.speech.joins import QUIET, quiet_prefix, quiet_suffix
from server.speech.openai_speech import OpenAISpeechTTS
from server.speech.piper import DEFAULT_VOICE, PiperTTS, find_voices
from server.speech.polyglot import Plan, Polyglot, speak, voice_language

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

pytestmark = pytest.mark.timeout(120)

BYTES_PER_SECOND = 24_000 * 2
MIXED = "我喜欢 Python，因为它很简单。"


@pytest.fixture(scope="module")
def piper() -> Iterator[PiperTTS]:
    """One warm Piper engine for the module."""
    tts = PiperTTS()
    yield tts
    asyncio.run(tts.aclose())


def voices(plan: Plan) -> list[tuple[str, str, str | None]]:
    return [(part.text, part.language, part.voice_name) for part in plan.parts]


def test_espeak_speaks_each_language_with_its_own_voice() -> None:
    book = Polyglot(EspeakTTS())
    assert voices(book.plan(MIXED, "en-us")) == [
        ("我喜欢", "cmn", "cmn-latn-pinyin"),
        ("Python，", "en", "en-us"),
        ("因为它很简单。", "cmn", "cmn-latn-pinyin"),
    ]
    assert voices(book.plan("Привет, мир.", None)) == [("Привет, мир.", "ru", "ru")]
    assert book.plan(MIXED, "en-us").notice is None


def test_piper_borrows_espeak_for_a_language_it_has_no_voice_for(piper: PiperTTS) -> None:
    plan = Polyglot(piper).plan(MIXED, None)
    assert [(part.engine.name, part.voice_name) for part in plan.parts] == [
        ("espeak", "cmn-latn-pinyin"),
        ("piper", DEFAULT_VOICE),
        ("espeak", "cmn-latn-pinyin"),
    ]
    assert (plan.language, plan.voice) == ("cmn", "cmn-latn-pinyin")


def test_an_installed_piper_voice_for_the_language_comes_first(tmp_path: Path) -> None:
    joe = find_voices()[DEFAULT_VOICE]
    # A stand-in Russian voice: any model filed under a ru_RU name counts as one.
    shutil.copy(joe.model, tmp_path / "ru_RU-test-medium.onnx")
    shutil.copy(joe.config, tmp_path / "ru_RU-test-medium.onnx.json")
    engine = PiperTTS(voices_dirs=[tmp_path])
    try:
        plan = Polyglot(engine).plan("Привет. 你好。", None)
        assert [(p.engine.name, p.voice_name) for p in plan.parts] == [
            ("piper", "ru_RU-test-medium"),
            ("espeak", "cmn-latn-pinyin"),
        ]
    finally:
        asyncio.run(engine.aclose())


def test_a_language_without_a_voice_is_shown_not_spelled(piper: PiperTTS) -> None:
    # espeak-ng as if it were not installed: Piper's English voice would say "Chinese letter".
    book = Polyglot(piper, helper=lambda _: EspeakTTS(executable="/nonexistent/espeak-ng"))
    plan = book.plan("你好。It is 42.", None)
    assert voices(plan) == [("It is 42.", "en", DEFAULT_VOICE)]
    assert plan.notice is not None and "'cmn'" in plan.notice and "not spoken" in plan.notice
    assert voices(book.plan("42.", None)) == [("42.", "en", DEFAULT_VOICE)]


def test_espeak_reads_the_kana_of_japanese_and_leaves_kanji_out() -> None:
    # espeak-ng's Japanese voice says "Chinese letter" for every kanji.
    plan = Polyglot(EspeakTTS()).plan("東京はとても大きいです。", "en-us")
    assert voices(plan) == [("はとても きいです。", "ja", "ja")]
    assert plan.notice is not None and "'ja'" in plan.notice


def test_a_multilingual_engine_keeps_the_session_voice() -> None:
    engine = OpenAISpeechTTS(base_url="http://127.0.0.1:9/v1", api_key="test")
    plan = Polyglot(engine).plan("你好。Hello.", "nova")
    assert voices(plan) == [("你好。 Hello.", "cmn", "nova")]
    assert plan.notice is None


def test_the_session_voice_sets_the_default_language() -> None:
    assert voice_language("en_US-joe-medium") == "en"
    assert voice_language("zh_CN-huayan-medium") == "cmn"
    assert voice_language("de") == "de"
    assert voice_language("alloy") == voice_language("ash") == "en"
    book = Polyglot(EspeakTTS())
    assert voices(book.plan("Guten Tag.", "de")) == [("Guten Tag.", "de", "de")]


async def test_a_mixed_sentence_is_spoken_part_after_part(piper: PiperTTS) -> None:
    plan = Polyglot(piper).plan(MIXED, None)
    pieces = [b"".join([pcm async for pcm in speak(Plan([part]), 1.0)]) for part in plan.parts]
    whole = b"".join([pcm async for pcm in speak(plan, 1.0)])
    assert all(audioop.rms(piece, 2) > 300 for piece in pieces)
    # Every part is in the whole, in order, and nothing else (Piper's noise varies a little).
    assert abs(len(whole) - sum(map(len, pieces))) < 0.25 * BYTES_PER_SECOND * len(pieces)
    # Joined without a click: no step of more than 3 % of full scale where a voice changes,
    # and the voices about as loud as each other (within a factor of 2).
    for before, after in itertools.pairwise(pieces):
        last, first = (
            audioop.getsample(before, 2, len(before) // 2 - 1),
            audioop.getsample(after, 2, 0),
        )
        assert abs(last - first) < 1000, (last, first)
    levels = [audioop.rms(piece, 2) for piece in pieces]
    assert max(levels) < 2 * min(levels), levels


def test_a_configured_voice_comes_before_the_automatic_one(piper: PiperTTS) -> None:
    book = Polyglot(piper, voices={"cmn": "yue", "en": "en-gb"})
    assert voices(book.plan("你好。Hello there.", None)) == [
        ("你好。", "cmn", "yue"),
        ("Hello there.", "en", "en-gb"),
    ]
    # A session's own choice wins over the server's.
    assert voices(book.plan("你好。", None, {"cmn": "cmn"})) == [("你好。", "cmn", "cmn")]
    assert book.knows("yue") and book.knows(DEFAULT_VOICE) and not book.knows("xx-nobody")


def test_the_catalog_offers_every_installed_voice_per_language(piper: PiperTTS) -> None:
    catalog = Polyglot(piper, voices={"cmn": "yue"}).catalog(None, {"ru": "ru"})
    # The session's language: Piper's voice first, espeak-ng's beside it.
    assert catalog["en"]["voice"] == catalog["en"]["automatic"] == DEFAULT_VOICE
    assert {DEFAULT_VOICE, "en-us", "en-gb"} <= set(catalog["en"]["voices"])
    assert catalog["cmn"] == {
        "voice": "yue",
        "automatic": "cmn-latn-pinyin",
        "voices": ["cmn", "cmn-latn-pinyin", "yue"],
    }
    assert (catalog["ru"]["voice"], catalog["de"]["voice"]) == ("ru", "de")
    assert "km" not in catalog  # no voice reads Khmer here
    # A multilingual endpoint: every voice reads every language, so there is nothing to choose.
    remote = OpenAISpeechTTS(base_url="http://127.0.0.1:9/v1", api_key="test")
    assert Polyglot(remote).catalog("nova") == {}


def longest_pause_s(pcm: bytes) -> float:
    """The longest run of silence inside ``pcm`` (its first and last 0.1 s left out)."""
    edge = int(0.1 * 24_000)
    quiet = np.abs(np.frombuffer(pcm, np.int16)[edge:-edge].astype(np.int32)) < QUIET
    longest = current = 0
    for silent in quiet.tolist():
        current = current + 1 if silent else 0
        longest = max(longest, current)
    return longest / 24_000


async def test_voices_hand_over_with_a_word_gap_not_a_pause(piper: PiperTTS) -> None:
    plan = Polyglot(piper).plan("The city 北京 is big.", None)
    assert [part.engine.name for part in plan.parts] == ["piper", "espeak", "piper"]
    joined = b"".join([pcm async for pcm in speak(plan, 1.0)])
    apart = [b"".join([pcm async for pcm in speak(Plan([p]), 1.0)]) for p in plan.parts]
    # Each engine pads its speech (espeak-ng: 0.3 s at the end); between words that is a hole.
    assert longest_pause_s(b"".join(apart)) > 0.3
    assert longest_pause_s(joined) < 0.15


def test_silence_is_found_at_either_end() -> None:
    pcm = np.array([0, 3, -2, 9000, 0, 600, 1, 0], np.int16).tobytes()
    assert (quiet_prefix(pcm), quiet_suffix(pcm)) == (6, 4)
    assert quiet_prefix(bytes(8)) == quiet_suffix(bytes(8)) == 8
