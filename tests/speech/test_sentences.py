"""SentenceSplitter: tricky inputs fed whole, a character at a time and in random chunks."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.speech.sentences import Segment, SentenceSplitter

# (transcript, expected segment texts). Every case is also checked for exact
# reconstruction and for identical output however the stream is chunked.
CASES: list[tuple[str, list[str]]] = [
    (
        "Hello there. How are you today? I am fine!",
        ["Hello there.", " How are you today?", " I am fine!"],
    ),
    (
        "Sure, I can help with that, of course. Next sentence.",
        ["Sure, I can help with that,", " of course.", " Next sentence."],
    ),
    ("Well; this is it: the answer. Done.", ["Well; this is it:", " the answer.", " Done."]),
    ("It costs $29.99 today. That is cheap.", ["It costs $29.99 today.", " That is cheap."]),
    ("Pi is 3.14 roughly. Yes.", ["Pi is 3.14 roughly.", " Yes."]),
    (
        "Use e.g. Python or Rust. Also i.e. this one. Then stop.",
        ["Use e.g. Python or Rust.", " Also i.e. this one.", " Then stop."],
    ),
    (
        "Bring apples, pears, etc. and some bread. Thanks.",
        ["Bring apples,", " pears, etc. and some bread.", " Thanks."],
    ),
    ("We need pears etc. The shop is open.", ["We need pears etc.", " The shop is open."]),
    (
        "Dr. Smith met Mr. Jones and Mrs. Brown at St. Mary's vs. the rest. Good.",
        ["Dr. Smith met Mr. Jones and Mrs. Brown at St. Mary's vs. the rest.", " Good."],
    ),
    (
        "She moved to the U.S. Army base. It was big.",
        ["She moved to the U.S. Army base.", " It was big."],
    ),
    ("J. R. R. Tolkien wrote books. Read them.", ["J. R. R. Tolkien wrote books.", " Read them."]),
    (
        "Open https://example.com/a.b?c=d now. It works.",
        ["Open https://example.com/a.b?c=d now.", " It works."],
    ),
    ("See https://example.com. Then go on.", ["See https://example.com.", " Then go on."]),
    (
        "Write to help.desk@example.org today. We answer.",
        ["Write to help.desk@example.org today.", " We answer."],
    ),
    (
        "Edit config.toml and main.py first. Then restart.",
        ["Edit config.toml and main.py first.", " Then restart."],
    ),
    (
        "Steps:\n1. First step.\n2. Second step.\n10. Tenth.",
        ["Steps:", "\n1. First step.", "\n2. Second step.", "\n10. Tenth."],
    ),
    (
        "Well... I think so. Maybe… not. Okay.",
        ["Well... I think so.", " Maybe… not.", " Okay."],
    ),
    (
        "Options:\n- red\n- green\n* blue\n+ black",
        ["Options:", "\n- red", "\n- green", "\n* blue", "\n+ black"],
    ),
    ("# Title\nSome text here. More.", ["# Title", "\nSome text here.", " More."]),
    ("First paragraph\n\nSecond paragraph", ["First paragraph", "\n\nSecond paragraph"]),
    ("This line wraps\nin the middle. End.", ["This line wraps\nin the middle.", " End."]),
    (
        'Here it is:\n```python\nx = 1. \nprint("a. B")\n```\nThat was it. Good?',
        ["Here it is:", '\n```python\nx = 1. \nprint("a. B")\n```', "\nThat was it.", " Good?"],
    ),
    (
        "Code:\n```\nwhile True:\n    pass. Yes.",
        ["Code:", "\n```\nwhile True:\n    pass. Yes."],
    ),
    ("~~~\na. B\n~~~~\nAfter.", ["~~~\na. B\n~~~~", "\nAfter."]),
    (
        "````\n```\nstill code. Yes.\n````\nDone.",
        ["````\n```\nstill code. Yes.\n````", "\nDone."],
    ),
    ("Inline ```code. Here``` is fine. Yes.", ["Inline ```code.", " Here``` is fine.", " Yes."]),
    (
        'He said "Stop." Then he left. "Why?" she asked.',
        ['He said "Stop."', " Then he left.", ' "Why?" she asked.'],
    ),
    (
        "**Important.** Read this. _Really._ Yes.",
        ["**Important.**", " Read this.", " _Really._", " Yes."],
    ),
    ("What?! No way!! Okay.", ["What?!", " No way!!", " Okay."]),
    ("你好。今天很好！谢谢。", ["你好。", "今天很好！", "谢谢。"]),
    (
        "We sold 1,000,000 units in 2023: a record. Great.",
        ["We sold 1,000,000 units in 2023:", " a record.", " Great."],
    ),
    ("Meet at 10:30 tomorrow. Bye.", ["Meet at 10:30 tomorrow.", " Bye."]),
    ("No. 5 is the answer. Yes.", ["No. 5 is the answer.", " Yes."]),
    ("The answer is 42. Next question.", ["The answer is 42.", " Next question."]),
    ("Install v1.2.3 now. Done.", ["Install v1.2.3 now.", " Done."]),
    ("See fig. 3 and approx. ten items. Yes.", ["See fig. 3 and approx. ten items.", " Yes."]),
    ("(It works.) Then more.", ["(It works.)", " Then more."]),
    ("Done.  \n", ["Done.  \n"]),
    ("\n\n  Hello. World.", ["\n\n  Hello.", " World."]),
    ("| a | b |\n|---|---|\n| 1 | 2 |", ["| a | b |", "\n|---|---|", "\n| 1 | 2 |"]),
    ("> Quoted line.\n> another one", ["> Quoted line.", "\n> another one"]),
    (
        "Hello there. Yes, well, that is right, indeed. Done.",
        ["Hello there.", " Yes, well, that is right, indeed.", " Done."],
    ),
    ("So, yes, this is it.", ["So, yes, this is it."]),
    ("   ", ["   "]),
    ("", []),
]


def split(text: str, how: str, **options: int) -> list[Segment]:
    """Run a splitter over ``text`` fed whole, per character, or in seeded random chunks."""
    splitter = SentenceSplitter(**options)
    segments: list[Segment] = []
    if how == "whole":
        segments += splitter.feed(text)
    elif how == "chars":
        for char in text:
            segments += splitter.feed(char)
    else:
        rng = random.Random(f"{how}:{text}")
        index = 0
        while index < len(text):
            size = rng.randint(1, 12)
            segments += splitter.feed(text[index : index + size])
            index += size
    return segments + splitter.flush()


def assert_tiles(text: str, segments: list[Segment]) -> None:
    """Segments cover the transcript contiguously, with offsets that index it exactly."""
    position = 0
    for segment in segments:
        assert segment.start == position
        assert text[segment.start : segment.end] == segment.text
        assert segment.text
        position = segment.end
    assert position == len(text)


@pytest.mark.parametrize("how", ["whole", "chars", "random"])
@pytest.mark.parametrize(("text", "expected"), CASES, ids=[repr(c[0])[:40] for c in CASES])
def test_table(text: str, expected: list[str], how: str) -> None:
    segments = split(text, how)
    assert [segment.text for segment in segments] == expected
    assert_tiles(text, segments)


def test_first_clause_goes_out_before_the_sentence_ends() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Right away") == []
    assert splitter.feed(", here") == [Segment("Right away,", 0, 11)]
    assert splitter.feed(" is the answer, and more") == []
    assert [s.text for s in splitter.flush()] == [" here is the answer, and more"]


def test_first_clause_minimum_is_configurable() -> None:
    assert [s.text for s in split("So, yes, this is it.", "whole", first_clause_min=3)] == [
        "So,",
        " yes, this is it.",
    ]


@pytest.mark.parametrize("how", ["whole", "chars", "random"])
def test_a_one_word_opening_clause_can_go_out_alone(how: str) -> None:
    # What Piper asks for: its first audio comes sooner the shorter the first piece.
    text = "Sure, here is the answer. Then 1,000 more, and more."
    assert [s.text for s in split(text, how, first_clause_min=3)] == [
        "Sure,",
        " here is the answer.",
        " Then 1,000 more, and more.",
    ]
    assert [s.text for s in split("Hi, you.", how, first_clause_min=4)] == ["Hi, you."]


def test_a_sentence_end_waits_for_the_next_non_space_character() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("It costs $29.") == []
    assert splitter.feed("99 today.") == []
    assert splitter.feed("  \n ") == []
    assert splitter.feed("Next") == [Segment("It costs $29.99 today.", 0, 22)]
    assert splitter.flush() == [Segment("  \n Next", 22, 30)]


def test_long_runs_are_cut_on_word_boundaries() -> None:
    words = [f"word{i}" for i in range(120)]
    text = " ".join(words)
    for how in ("whole", "chars", "random"):
        segments = split(text, how, max_chars=50)
        assert_tiles(text, segments)
        assert len(segments) > 5
        for segment in segments:
            assert len(segment.text.strip()) <= 50
            assert segment.text.strip().split() == segment.text.split()  # whole words only
        # Every cut falls between two words.
        assert [w for s in segments for w in s.text.split()] == words


def test_a_word_longer_than_max_chars_is_cut_anyway() -> None:
    text = "x" * 120
    assert [s.text for s in split(text, "chars", max_chars=50)] == ["x" * 50, "x" * 50, "x" * 20]


def test_a_code_block_is_never_cut_even_when_long() -> None:
    body = "line one. Line two, three; four: five.\n" * 40
    text = f"Look:\n```text\n{body}```\nAfter it."
    for how in ("whole", "chars", "random"):
        segments = split(text, how, max_chars=60)
        assert [s.text for s in segments] == ["Look:", f"\n```text\n{body}```", "\nAfter it."]


def test_flush_without_text_returns_nothing() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("") == []
    assert splitter.flush() == []


TOKENS = [
    "Hello", "world", "The", "the", " ", "  ", "\n", "\n\n", ".", "...", "…", "!", "?", ",",
    ";", ":", "e.g.", "Dr.", "U.S.", "$29.99", "3.14", "```", "```python\n", "~~~", "- ",
    "* ", "1. ", "# ", "> ", "|", "`", "**", "_", "https://example.com/a.b?c=d", "me@x.org",
    "config.toml", "J.", '"', ")", "你好。", "12", "x" * 30,
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    tokens=st.lists(st.sampled_from(TOKENS), max_size=60),
    cuts=st.lists(st.integers(min_value=1, max_value=15), min_size=1, max_size=20),
    max_chars=st.sampled_from([400, 40, 12]),
    first_clause_min=st.sampled_from([10, 1]),
    first_fragment=st.sampled_from([0, 1, 8]),
)
def test_segments_reconstruct_the_transcript_however_it_is_chunked(
    tokens: list[str], cuts: list[int], max_chars: int, first_clause_min: int, first_fragment: int
) -> None:
    text = "".join(tokens)
    options = {
        "max_chars": max_chars,
        "first_clause_min": first_clause_min,
        "first_fragment": first_fragment,
    }
    whole = split(text, "whole", **options)
    assert_tiles(text, whole)
    splitter = SentenceSplitter(**options)
    chunked: list[Segment] = []
    index = 0
    for size in cuts * (len(text) // sum(cuts) + 1):
        chunked += splitter.feed(text[index : index + size])
        index += size
    chunked += splitter.flush()
    assert chunked == whole
    if text.strip():
        assert all(segment.text.strip() for segment in whole)  # no whitespace-only segments
