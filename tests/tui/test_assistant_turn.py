"""The assistant's turn: the sentence being spoken is found in the rendered Markdown."""

from __future__ import annotations

from textual.app import App

from tui.widgets.assistant_turn import AssistantTurn, TurnNote, find_sentence, plain_text


def test_the_spoken_sentence_is_found_in_the_rendered_text() -> None:
    assert plain_text("To make **tea**, boil `water`.\n- see [docs](http://x)") == (
        "To make tea, boil water. see docs"
    )
    shown = "Steep for four minutes. Then pour."
    assert find_sentence(shown, "Then pour.") == (24, 34)
    assert find_sentence(shown, "Steep for four minutes. Pour it") == (0, 23)
    assert find_sentence(shown, "Nothing like it") is None


async def test_an_answer_that_ends_before_its_turn_is_composed_keeps_its_note() -> None:
    app = App[None]()
    async with app.run_test() as pilot:
        turn = AssistantTurn("Sure.")
        await turn.end("stopped", "stopped after 0.2 s")  # not mounted yet: nothing to update
        await app.mount(turn)
        await pilot.pause()
        assert turn.has_class("-stopped")
        assert "stopped after 0.2 s" in str(turn.query_one(TurnNote).render())
