"""The transcript in a throwaway host app: old turns fold away and come back."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui.widgets.transcript import LIVE_TURNS, OlderTurns, TranscriptView, TurnRecord


class TranscriptHost(App[None]):
    """An app holding nothing but a transcript."""

    def compose(self) -> ComposeResult:
        yield TranscriptView()


async def test_old_turns_fold_away_and_come_back_a_page_at_a_time() -> None:
    app = TranscriptHost()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TranscriptView)
        records = [
            TurnRecord("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(60)
        ]
        await view.load(records)
        await pilot.pause()
        assert len(view.turns) == LIVE_TURNS and len(view.older) == 60 - LIVE_TURNS
        assert "36 earlier turns" in str(app.query_one(OlderTurns).content)
        await view.unfold()
        await pilot.pause()
        assert len(view.turns) == LIVE_TURNS + 12 and len(view.older) == 24
        await view.add_user("new question")
        assert len(view.turns) == LIVE_TURNS and view.older[-1].text == "turn 36"
