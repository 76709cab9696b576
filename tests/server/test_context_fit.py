"""Fitting a history into a window: oldest first, system prompt and newest message stay."""

from __future__ import annotations

from typing import Any

import pytest

from server.errors import ContextOverflow
from server.session.context import ModelContext, answer_room, fit

SYSTEM = {"role": "system", "content": "Be brief."}


def turns(count: int, words: int = 30) -> list[dict[str, str]]:
    """``count`` question/answer pairs, each message ``words`` words long, numbered."""
    out = []
    for n in range(count):
        out.append({"role": "user", "content": f"question {n} " + "word " * words})
        out.append({"role": "assistant", "content": f"answer {n} " + "word " * words})
    return out


def test_without_a_known_window_nothing_is_left_out() -> None:
    messages = [SYSTEM, *turns(50), {"role": "user", "content": "last"}]
    fitted = fit(messages, ModelContext(window=None), cap=100)
    assert fitted.messages == messages
    assert fitted.left_out == 0


def test_the_oldest_turns_go_first_and_the_system_prompt_and_newest_message_stay() -> None:
    newest = {"role": "user", "content": "what now?"}
    messages = [SYSTEM, *turns(20), newest]
    fitted = fit(messages, ModelContext(window=1000), cap=200)
    assert fitted.messages[0] == SYSTEM
    assert fitted.messages[-1] == newest
    assert 0 < fitted.left_out < 40
    # What is kept is the most recent part of the history, in order.
    kept = fitted.messages[1:-1]
    assert kept == messages[1 + fitted.left_out : -1]
    assert kept[0]["role"] == "user", "an answer is never kept without its question"
    assert "answer 19" in kept[-1]["content"]


def test_the_answer_keeps_its_room() -> None:
    assert answer_room(4096, 1024) == 1024
    assert answer_room(4096, None) == 1024  # no cap: a quarter of the window
    assert answer_room(512, 1024) == 256  # never more than half
    messages = [SYSTEM, *turns(20), {"role": "user", "content": "go on"}]
    small_cap = fit(messages, ModelContext(window=2000), cap=100)
    big_cap = fit(messages, ModelContext(window=2000), cap=900)
    assert big_cap.left_out > small_cap.left_out


def test_a_newest_message_too_long_for_the_window_is_refused_in_plain_words() -> None:
    messages = [SYSTEM, {"role": "user", "content": "word " * 2000}]
    with pytest.raises(ContextOverflow) as info:
        fit(messages, ModelContext(window=512), cap=64)
    assert "too long for the model" in info.value.message
    assert "512 tokens" in info.value.message
    assert "Shorten it" in info.value.message


def test_keep_at_most_bounds_the_history_for_a_retry() -> None:
    messages = [SYSTEM, *turns(5), {"role": "user", "content": "again"}]
    fitted = fit(messages, ModelContext(window=None), cap=None, keep_at_most=4)
    assert len(fitted.messages) == 1 + 4 + 1
    assert fitted.left_out == 6


def test_a_tool_result_never_stays_without_its_call() -> None:
    """Chat Completions refuses a ``tool`` message whose assistant ``tool_calls`` is gone."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    old: list[dict[str, Any]] = [
        {"role": "user", "content": "question " + "word " * 300},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "result " + "word " * 40},
    ]
    messages = [SYSTEM, *old, *turns(3), {"role": "user", "content": "go on"}]
    # Room for the turns and the tool result, not for the call's big question.
    fitted = fit(messages, ModelContext(window=700), cap=100)
    kept = fitted.messages[1:-1]
    assert kept and kept[0]["role"] == "user"
    assert all(m["role"] != "tool" for m in kept)
