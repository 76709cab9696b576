"""Numbers and dates are read in their sentence's language: the digits go to that language's
voice as written (each voice reads them in its own language), never as English words."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from server.speech.espeak import EspeakTTS
from server.speech.piper import PiperTTS
from server.speech.polyglot import Plan, Polyglot, speak
from server.speech.sentences import SentenceSplitter
from server.speech.speakable import speakable
from tests.helpers.hearing import hear

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def piper() -> Iterator[PiperTTS]:
    """One warm Piper engine for the module (English, the default voice)."""
    tts = PiperTTS()
    yield tts
    asyncio.run(tts.aclose())


def handed(plan: Plan) -> list[tuple[str, str, str | None]]:
    """What each engine is given: (text, language, voice)."""
    return [(part.text, part.language, part.voice_name) for part in plan.parts]


async def spoken(plan: Plan) -> bytes:
    return b"".join([pcm async for pcm in speak(plan, 1.0)])


@pytest.mark.parametrize(
    ("sentence", "language"),
    [
        ("Das Haus hat 42 Zimmer und kostet 3,50 Euro.", "de"),
        ("La maison a 42 chambres et coûte 3,50 euros.", "fr"),
        ("La casa tiene 42 habitaciones y cuesta 3,50 euros.", "es"),
    ],
)
async def test_a_number_in_another_language_is_not_made_english(
    piper: PiperTTS, sentence: str, language: str
) -> None:
    plan = Polyglot(piper).plan(speakable(sentence), None)
    # The digits reach the language's own voice untouched: no "forty-two" written in.
    assert handed(plan) == [(sentence, language, language)]
    # And an English listener does not hear the English number in it.
    heard = hear(await spoken(plan))
    assert "42" not in heard and "forty" not in heard, heard


async def test_english_numbers_are_still_read_as_english(piper: PiperTTS) -> None:
    sentence = "The house has 42 rooms and was built in 1998."
    plan = Polyglot(piper).plan(sentence, None)
    assert [language for _, language, _ in handed(plan)] == ["en"]
    heard = hear(await spoken(plan))
    assert "42" in heard or "forty-two" in heard or "forty two" in heard, heard
    assert "1998" in heard or "nineteen ninety" in heard, heard


@pytest.mark.parametrize(
    ("recent", "voice"),
    [("de", "de"), ("fr", "fr"), ("cmn", "cmn-latn-pinyin"), ("ru", "ru"), (None, "en-us")],
)
def test_a_number_on_its_own_is_read_in_the_language_before_it(
    recent: str | None, voice: str
) -> None:
    # "Die Antwort ist:" then "42." — a sentence with no letters takes the last one's language.
    plan = Polyglot(EspeakTTS()).plan("42.", "en-us", recent=recent)
    assert [(language, said_by) for _, language, said_by in handed(plan)] == [
        (recent or "en", voice)
    ]


def test_a_german_date_is_one_sentence_read_in_german() -> None:
    text = "Am 3. Mai 2024 ist ein Feiertag. Die Antwort ist 42. Danach kommt mehr."
    splitter = SentenceSplitter()
    pieces = [s.text for ch in text for s in splitter.feed(ch)] + [s.text for s in splitter.flush()]
    assert pieces == [
        "Am 3. Mai 2024 ist ein Feiertag.",
        " Die Antwort ist 42.",
        " Danach kommt mehr.",
    ]
    plan = Polyglot(EspeakTTS()).plan(pieces[0], "en-us")
    assert handed(plan) == [("Am 3. Mai 2024 ist ein Feiertag.", "de", "de")]
    # An English sentence that ends in a number still ends there.
    english = SentenceSplitter()
    out = [s.text for s in english.feed("The answer is 42. May is a month.")]
    assert out + [s.text for s in english.flush()] == ["The answer is 42.", " May is a month."]
