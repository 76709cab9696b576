"""What of a stopped answer was heard: by sentence marks, or by share of the speech."""

from __future__ import annotations

from tui.heard import heard_prefix

TEXT = "Boil the water. Warm the pot. Add the leaves and wait."


def test_with_sentence_marks_it_keeps_up_to_the_sentence_being_spoken() -> None:
    assert heard_prefix(TEXT, (16, 30), heard_ms=1200, audio_ms=4000) == TEXT[:30]


def test_without_marks_it_keeps_the_heard_share_cut_at_a_word() -> None:
    # HTTP streaming: no marks; half the speech heard keeps about half the text.
    half = heard_prefix(TEXT, None, heard_ms=2000, audio_ms=4000)
    assert TEXT.startswith(half) and not half.endswith(" ")
    assert len(TEXT) // 2 - 8 <= len(half) <= len(TEXT) // 2
    assert heard_prefix(TEXT, None, heard_ms=5000, audio_ms=4000) == TEXT
    assert heard_prefix(TEXT, None, heard_ms=0, audio_ms=4000) == ""
    assert heard_prefix(TEXT, None, heard_ms=100, audio_ms=0) == ""
