"""The opening words of a long first sentence go out early, cut at a word boundary (issue 17)."""

from __future__ import annotations

import pytest

from server.speech.fragment import TAIL
from server.speech.sentences import Segment, SentenceSplitter
from tests.helpers.scaling import assert_linear
from tests.speech.test_sentences import assert_tiles, split

HOW = ["whole", "chars", "random"]
FOX = "The quick brown fox jumps over the lazy dog."


def texts(text: str, how: str, **options: int) -> list[str]:
    segments = split(text, how, **{"first_clause_min": 3, "first_fragment": 8} | options)
    assert_tiles(text, segments)
    return [segment.text for segment in segments]


@pytest.mark.parametrize("how", HOW)
def test_a_long_opening_sentence_is_cut_after_its_first_words(how: str) -> None:
    text = FOX + " It ran away."
    segments = split(text, how, first_clause_min=3, first_fragment=8)
    assert [s.text for s in segments] == [
        "The quick",
        " brown fox jumps over",
        " the lazy dog.",
        " It ran away.",
    ]
    assert [(s.continues, s.continued) for s in segments] == [
        (True, False),
        (True, True),
        (False, True),
        (False, False),
    ]


@pytest.mark.parametrize("how", HOW)
def test_each_further_piece_is_at_least_twice_as_long_as_the_minimum_before(how: str) -> None:
    text = (
        "When you start a long answer with one sentence that keeps going on and on without "
        "any comma at all it is cut into pieces that grow."
    )
    pieces = texts(text, how)
    assert pieces[:3] == ["When you", " start a long answer", " with one sentence that keeps going"]
    assert len(pieces) == 4
    assert [len(piece.strip()) >= 8 << k for k, piece in enumerate(pieces[:-1])] == [True] * 3


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(
    "text",
    ["Sure.", "The quick brown fox.", "Here is the answer. It is short.", "I think so too."],
)
def test_short_sentences_are_spoken_whole(text: str, how: str) -> None:
    expected = {"Here is the answer. It is short.": ["Here is the answer.", " It is short."]}
    assert texts(text, how) == expected.get(text, [text])


@pytest.mark.parametrize("how", HOW)
def test_only_the_opening_is_cut(how: str) -> None:
    assert texts("Sure. " + FOX, how) == ["Sure.", " " + FOX]
    second = " The slow green turtle walks under the busy bridge."
    assert texts(FOX + second, how) == [
        "The quick",
        " brown fox jumps over",
        " the lazy dog.",
        second,
    ]


@pytest.mark.parametrize("how", HOW)
def test_a_first_word_longer_than_the_minimum_goes_out_alone(how: str) -> None:
    text = "Internationally recognised standards keep networks running."
    assert texts(text, how) == [
        "Internationally",
        " recognised standards",
        " keep networks running.",
    ]


@pytest.mark.parametrize("how", HOW)
def test_a_clause_end_near_the_cut_wins(how: str) -> None:
    assert texts("The quick brown fox, it jumps over the dog.", how) == [
        "The quick brown fox,",
        " it jumps over the dog.",
    ]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(
    "text",
    [
        "**Bold** opening words are never cut here at all.",
        "- The quick brown fox jumps over the lazy dog",
        "Version 3.14 of the tool runs on every machine we own.",
        "The\nquick brown fox jumps over the lazy dog on a soft wrap.",
        "我们今天去公园散步天气很好我们今天去公园散步天气很好。",
        "```\nprint('The quick brown fox jumps over the lazy dog')\n```",
    ],
)
def test_markdown_numbers_and_line_breaks_are_not_cut(text: str, how: str) -> None:
    assert texts(text, how) == [text]


def test_off_unless_the_engine_asks_for_it() -> None:
    assert [s.text for s in split(FOX + " Yes.", "whole")] == [FOX, " Yes."]


def test_the_fragment_goes_out_before_the_sentence_has_ended() -> None:
    splitter = SentenceSplitter(first_clause_min=3, first_fragment=8)
    first_out = None
    for index, char in enumerate(FOX):
        if splitter.feed(char) and first_out is None:
            first_out = index
    assert first_out == len("The quick") + TAIL - 1  # the tail's last character has arrived
    assert first_out < FOX.index(".")


def _opening(text: str, piece: int) -> list[Segment]:
    splitter = SentenceSplitter(first_clause_min=3, first_fragment=8)
    out = [s for i in range(0, len(text), piece) for s in splitter.feed(text[i : i + piece])]
    return out + splitter.flush()


def test_looking_for_the_cut_is_bounded_work() -> None:
    # An opening that never offers a cut is looked at again on every delta.
    assert_linear(lambda n: _opening("x" * n, 10), 32_000)
    assert_linear(lambda n: _opening("**" + "word " * (n // 5), 10), 32_000)
