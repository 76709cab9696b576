"""Sentence cutting in scripts without spaces or with full stops of their own, on real text."""

from __future__ import annotations

import pytest

from server.speech import spaceless
from server.speech.sentences import Segment, SentenceSplitter
from tests.helpers.scaling import assert_linear

CHINESE = (
    "北京是中华人民共和国的首都，也是全国的政治、文化和国际交往中心。"
    "北京有三千多年的建城史，八百多年的建都史。"
    "故宫、天坛和颐和园都是世界文化遗产！你去过长城吗？"
)
JAPANESE = (
    "東京は日本の首都です。人口は約千四百万人で、世界で最も大きな都市の一つです。"
    "「こんにちは。」と彼は言った。「はい。」「いいえ。」"
)
THAI = (
    "ประเทศไทยมีประชากรประมาณเจ็ดสิบล้านคน "
    "กรุงเทพมหานครเป็นเมืองหลวงและเมืองที่ใหญ่ที่สุดของประเทศ "
    "อาหารไทยมีชื่อเสียงไปทั่วโลก ข้าวผัดจานนี้ราคา 100 บาท"
)
HINDI = "भारत एक विशाल देश है। इसकी राजधानी नई दिल्ली है। यहाँ सौ करोड़ से अधिक लोग रहते हैं।"


def split(text: str, piece: int = 1, **options: int) -> list[Segment]:
    """The segments of ``text`` fed ``piece`` characters at a time, then flushed."""
    splitter = SentenceSplitter(**options)
    out = [s for i in range(0, len(text), piece) for s in splitter.feed(text[i : i + piece])]
    return out + splitter.flush()


def texts(text: str, piece: int = 1) -> list[str]:
    found = [segment.text for segment in split(text, piece)]
    assert "".join(found) == text, "segments tile the transcript exactly"
    assert found == [segment.text for segment in split(text, len(text))], "chunking is irrelevant"
    return found


def test_chinese_is_cut_at_its_full_stops_and_opens_with_a_clause() -> None:
    assert texts(CHINESE) == [
        "北京是中华人民共和国的首都，",  # the opening clause goes out on its own, early
        "也是全国的政治、文化和国际交往中心。",
        "北京有三千多年的建城史，八百多年的建都史。",
        "故宫、天坛和颐和园都是世界文化遗产！",
        "你去过长城吗？",
    ]


def test_japanese_quotes_stay_with_their_sentence() -> None:
    assert texts(JAPANESE) == [
        "東京は日本の首都です。",
        "人口は約千四百万人で、世界で最も大きな都市の一つです。",
        "「こんにちは。」と彼は言った。",
        "「はい。」",
        "「いいえ。」",
    ]


def test_thai_is_cut_at_the_spaces_between_its_phrases() -> None:
    assert texts(THAI) == [
        "ประเทศไทยมีประชากรประมาณเจ็ดสิบล้านคน",
        " กรุงเทพมหานครเป็นเมืองหลวงและเมืองที่ใหญ่ที่สุดของประเทศ",
        " อาหารไทยมีชื่อเสียงไปทั่วโลก",
        " ข้าวผัดจานนี้ราคา 100 บาท",  # a number after a space goes on with the phrase
    ]


def test_a_short_thai_phrase_is_not_a_segment_of_its_own() -> None:
    # "Hello. How are you?": both phrases are shorter than a second of speech.
    assert texts("สวัสดีครับ สบายดีไหมครับ") == ["สวัสดีครับ สบายดีไหมครับ"]


def test_hindi_and_other_scripts_end_sentences_with_their_own_stops() -> None:
    assert texts(HINDI) == [
        "भारत एक विशाल देश है।",
        " इसकी राजधानी नई दिल्ली है।",
        " यहाँ सौ करोड़ से अधिक लोग रहते हैं।",
    ]
    assert texts("ភ្នំពេញជាទីក្រុង។ខ្ញុំស្រឡាញ់វា។") == ["ភ្នំពេញជាទីក្រុង។", "ខ្ញុំស្រឡាញ់វា។"]


@pytest.mark.parametrize(
    "text",
    [
        "我们今天去公园散步天气很好" * 40 + "。",  # no punctuation for 520 characters
        "ประเทศไทยมีประชากรประมาณเจ็ดสิบล้านคน" * 20,  # Thai with no space at all
        "東京は日本の首都です" * 60,
    ],
    ids=["chinese", "thai", "japanese"],
)
def test_a_long_run_without_stops_is_bounded_to_a_few_seconds_of_speech(text: str) -> None:
    found = texts(text, piece=7)
    bound = 400 // spaceless.BOUND_SHARE
    assert len(found) >= len(text) // bound
    assert all(len(piece) <= bound for piece in found)


def test_a_long_chinese_answer_starts_speaking_before_its_first_sentence_ends() -> None:
    splitter = SentenceSplitter(first_clause_min=3)
    first_out = next(i for i, char in enumerate(CHINESE) if splitter.feed(char))
    # Out once the character after the comma has arrived, long before the first 。.
    assert first_out == CHINESE.index("，") + 1 < CHINESE.index("。")


def test_latin_text_keeps_the_usual_bound() -> None:
    text = ("word " * 200).strip()
    assert max(len(piece) for piece in texts(text, piece=50)) > 300


@pytest.mark.parametrize(
    "unit",
    ["สวัสดี ครับ ", "ภาษาไทย" + " " * 7, "Am 3. Mai ", "我们今天，"],
    ids=["short-thai-phrases", "thai-and-spaces", "german-dates", "chinese-commas"],
)
def test_cutting_stays_linear_in_time(unit: str) -> None:
    assert_linear(lambda n: split(unit * (n // len(unit)), piece=3), 32_000)
