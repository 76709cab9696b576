"""An answer's bookkeeping: which response it owns, its spans, what Stop and Pause send."""

from __future__ import annotations

from server import protocol as p
from tui.app.answer import Answer
from tui.widgets.assistant_turn import AssistantTurn


def test_answer_bookkeeping() -> None:
    answer = Answer(AssistantTurn(), generation=3, voice=True)
    assert answer.owns("r1") and not answer.owns("r2")
    answer.add_segment(0.0, 0, 10)
    answer.add_segment(900.0, 10, 30)
    spans = [answer.span_at(ms) for ms in (0, 899, 900, 5000)]
    assert spans == [(0, 10), (0, 10), (10, 30), (10, 30)]
    assert answer.stop_events(1234.9) == [{"type": p.RESPONSE_CANCEL, "response_id": "r1"}]
    answer.audio_seen, answer.item_id, answer.done = True, "item_1", True
    assert answer.pause_events() == []
    assert answer.stop_events(1234.9) == [
        {"type": p.ITEM_TRUNCATE, "item_id": "item_1", "content_index": 0, "audio_end_ms": 1234}
    ]
    assert not answer.finished_playing(buffered_ms=20.0)
    answer.audio_fed = True
    assert answer.finished_playing(buffered_ms=0.0)


def test_the_language_heard_follows_the_segments() -> None:
    answer = Answer(AssistantTurn(), generation=1, voice=True)
    assert answer.language_at(0) == ""
    answer.add_segment(0.0, 0, 10, "cmn")
    answer.add_segment(900.0, 10, 30, "en")
    assert [answer.language_at(ms) for ms in (0, 899, 900)] == ["cmn", "cmn", "en"]
