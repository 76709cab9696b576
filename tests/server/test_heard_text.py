"""Mapping how much audio was heard back to the words that were spoken."""

from __future__ import annotations

import pytest

from server.session.conversation import Item, SpokenSpan, heard_text

TEXT = "Hello there, friend. The weather today is sunny and warm."


def item() -> Item:
    first = TEXT.index("The")
    return Item(
        id="item_1",
        role="assistant",
        text=TEXT,
        modality="audio",
        spans=[
            SpokenSpan(0, first, audio_start_ms=0, audio_ms=1000),
            SpokenSpan(first, len(TEXT), audio_start_ms=1000, audio_ms=2000),
        ],
    )


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (0, ""),
        (1000, "Hello there, friend."),
        (1001, "Hello there, friend."),
        (3000, TEXT),
        (5000, TEXT),
        (2000, "Hello there, friend. The weather today"),
    ],
)
def test_heard_text(ms: int, expected: str) -> None:
    assert heard_text(item(), ms) == expected


def test_never_ends_in_half_a_word() -> None:
    for ms in range(0, 3000, 37):
        heard = heard_text(item(), ms)
        assert TEXT.startswith(heard)
        if heard and heard != TEXT:
            assert TEXT[len(heard)] in " ,."
