"""Text processing stays linear in its input however the upstream sends it.

One 2 MB chunk once froze every session for 13 s (the splitter re-copied its
buffer per cut); a fence like ```a`b made speakable() quadratic.
"""

from __future__ import annotations

from server.llm.sse import SSEDecoder
from server.session.conversation import Item
from server.speech.sentences import SentenceSplitter
from server.speech.speakable import speakable
from tests.helpers.scaling import assert_linear


def split(text: str, piece: int = 0) -> list[str]:
    splitter = SentenceSplitter()
    step = piece or len(text) or 1
    out = [s.text for i in range(0, len(text), step) for s in splitter.feed(text[i : i + step])]
    return out + [s.text for s in splitter.flush()]


def test_one_huge_chunk_without_punctuation_is_split_in_linear_time() -> None:
    assert_linear(lambda n: split("word " * (n // 5)), 64_000)


def test_a_long_code_block_in_tiny_pieces_is_split_in_linear_time() -> None:
    # Pieces of 1000: the copy per piece (the old cost) dominates Python's per-call overhead.
    code = "```py\n" + "x = 1\n" * (4_000_000 // 6) + "```\nDone."
    assert_linear(lambda n: split(code[:n], 1000), 250_000)


def test_a_run_of_backticks_in_tiny_pieces_is_split_in_linear_time() -> None:
    assert_linear(lambda n: split("`" * n, 10), 64_000)


def test_chinese_without_sentence_ends_is_cut_at_commas_within_the_bound() -> None:
    text = "我们今天去公园散步，天气很好" * 200
    segments = split(text)
    assert "".join(segments) == text
    assert max(map(len, segments)) <= 400
    assert all(s.endswith("，") for s in segments[:-1])


def test_chinese_without_any_punctuation_is_hard_cut_within_the_bound() -> None:
    segments = split("汉" * 5000, 7)
    assert len(segments) > 1 and max(map(len, segments)) <= 400


def test_a_hard_cut_keeps_combining_marks_with_their_letter() -> None:
    text = "x" + "e\u0301" * 1000  # é as e + combining acute; a cut at 400 falls inside one
    segments = split(text)
    assert "".join(segments) == text
    assert not any(s.startswith("\u0301") for s in segments)


def test_a_backtick_in_the_info_string_makes_prose_not_a_code_block() -> None:
    text = "```a`b\nFirst sentence here. Second sentence here. Third one."
    segments = split(text)
    assert len(segments) > 1  # espeak once got the whole answer as one input
    assert "Second sentence here." in " ".join(speakable(s) for s in segments)


def test_speakable_is_linear_on_a_bad_fence_and_unclosed_emphasis() -> None:
    assert_linear(lambda n: speakable("```a`b\n" + "**x " * (n // 4)), 8_000)


def test_speakable_is_linear_on_unclosed_code_spans_and_links() -> None:
    assert_linear(lambda n: speakable("`a ``b [c ![d <http://e " * (n // 24)), 8_000)


def test_a_tilde_fence_may_hold_a_backtick_and_is_still_not_read_out() -> None:
    assert speakable("~~~a`b\nsecret_code()\n~~~") == "Here is a code block; see the screen."


def test_a_transcript_of_many_deltas_is_built_in_linear_time() -> None:
    def build(n: int) -> int:
        item = Item(id="item_1", role="assistant")
        for _ in range(n):
            item.append("token ")
            _ = item.id  # reading other fields must not join the text
        return len(item.text)

    assert_linear(build, 12_500)


def test_one_huge_sse_line_in_tiny_pieces_is_decoded_in_linear_time() -> None:
    def decode(n: int) -> int:
        decoder = SSEDecoder()
        line = "data: " + "x" * n + "\n\n"
        events = [e for i in range(0, len(line), 10) for e in decoder.feed(line[i : i + 10])]
        return len(events[0].data)

    assert_linear(decode, 64_000)
