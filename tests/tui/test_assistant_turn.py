"""The assistant's turn: the sentence being spoken is found in the rendered Markdown."""

from __future__ import annotations

from tui.widgets.assistant_turn import find_sentence, plain_text


def test_the_spoken_sentence_is_found_in_the_rendered_text() -> None:
    assert plain_text("To make **tea**, boil `water`.\n- see [docs](http://x)") == (
        "To make tea, boil water. see docs"
    )
    shown = "Steep for four minutes. Then pour."
    assert find_sentence(shown, "Then pour.") == (24, 34)
    assert find_sentence(shown, "Steep for four minutes. Pour it") == (0, 23)
    assert find_sentence(shown, "Nothing like it") is None
