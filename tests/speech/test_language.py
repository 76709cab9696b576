"""Language by script: each sentence cut into runs a voice of one language can say."""

from __future__ import annotations

import time

import pytest

from server.speech.language import MAX_RUNS, Run, language_of, runs, speakable_text

EXAMPLES = [
    ("你好，世界。", [Run("你好，世界。", "cmn")]),
    ("東京に行きました。", [Run("東京に行きました。", "ja")]),
    ("안녕하세요, 반갑습니다.", [Run("안녕하세요, 반갑습니다.", "ko")]),
    ("Привет, как дела?", [Run("Привет, как дела?", "ru")]),
    ("Καλημέρα σας.", [Run("Καλημέρα σας.", "el")]),
    ("مرحبا بالعالم.", [Run("مرحبا بالعالم.", "ar")]),
    ("שלום עולם.", [Run("שלום עולם.", "he")]),
    ("नमस्ते दुनिया।", [Run("नमस्ते दुनिया।", "hi")]),
    ("สวัสดีครับ", [Run("สวัสดีครับ", "th")]),
    ("Ça va très bien.", [Run("Ça va très bien.", "en")]),
]


@pytest.mark.parametrize(("text", "expected"), EXAMPLES)
def test_one_script_is_one_run_in_its_language(text: str, expected: list[Run]) -> None:
    assert runs(text) == expected


def test_latin_text_is_in_the_default_language() -> None:
    assert runs("Guten Tag, wie geht's?", default="de") == [Run("Guten Tag, wie geht's?", "de")]


def test_a_mixed_sentence_is_cut_at_script_boundaries() -> None:
    assert runs("我喜欢 Python 和 Rust，因为它们很快。") == [
        Run("我喜欢", "cmn"),
        Run("Python", "en"),
        Run("和", "cmn"),
        Run("Rust，", "en"),
        Run("因为它们很快。", "cmn"),
    ]


def test_digits_and_punctuation_belong_to_the_run_they_sit_in() -> None:
    assert runs("2024年我们去了北京，住了3天。") == [Run("2024年我们去了北京，住了3天。", "cmn")]


def test_han_is_japanese_in_a_sentence_with_kana() -> None:
    assert [run.language for run in runs("今日は良い天気です。")] == ["ja"]
    assert [run.language for run in runs("今天天气很好。")] == ["cmn"]


def test_what_no_voice_can_say_is_dropped_not_spelled() -> None:
    assert speakable_text("ok 😀👍🏽 ┌──┐ done\x07\u200b!") == "ok done !"
    assert runs("😀" * 10_000) == []
    assert runs("\u200d\u200d\u2066abc\u2069") == [Run("abc", "en")]


def test_right_to_left_text_keeps_its_order_and_language() -> None:
    text = "\u202bשלום\u202c and مرحبا"
    assert runs(text) == [Run("שלום", "he"), Run("and", "en"), Run("مرحبا", "ar")]


def test_language_of_is_the_language_of_most_letters() -> None:
    assert language_of("这是 OK 的答案。") == "cmn"
    assert language_of("The word 猫 means cat.") == "en"
    assert language_of("!!!", default="fr") == "fr"


def test_a_script_change_at_every_character_is_one_run() -> None:
    found = runs("a中" * 2000 + "b")
    assert len(found) == 1 and found[0].language == "en"
    assert len(runs("a中" * (MAX_RUNS // 2))) == MAX_RUNS


@pytest.mark.parametrize(
    "text",
    ["中" * 1_000_000, "a中" * 500_000, "😀" * 1_000_000, "\u200d" * 1_000_000, "ab " * 300_000],
    ids=["han", "alternating", "emoji", "joiners", "latin"],
)
def test_a_megabyte_takes_bounded_time(text: str) -> None:
    started = time.process_time()
    found = runs(text)
    # Linear: a sentence is at most 400 characters (the splitter's max_chars); a megabyte
    # still finishes in seconds, not minutes.
    assert time.process_time() - started < 20
    assert len(found) <= MAX_RUNS
