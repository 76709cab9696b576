"""Property: no sequence of client frames, however broken, hurts the server or another session."""

from __future__ import annotations

from typing import Final

from hypothesis import example, given, settings

from server import protocol as p
from tests.fuzz.harness import Arena, play
from tests.fuzz.program import EID, PRELUDE, Filler, Program
from tests.fuzz.strategies import programs
from tests.fuzz.wire import Wire

FUZZ = settings.get_profile("talkterm-fuzz")


def _user_item(size: int) -> dict[str, object]:
    text = {"type": "input_text", "text": Filler(size)}
    return {"type": p.ITEM_CREATE, "event_id": EID, "item": {"role": "user", "content": [text]}}


# Found on a loaded machine: two big user items push the prelude answer out of the
# 1 Mi-character history, so truncating it gets item_not_found, not the bad
# content_index's invalid_value (the model lacked the history bound).
EVICTED_PRELUDE: Final = Program(
    reply="slow",
    ops=(
        _user_item(62_336),
        _user_item(1_044_262),
        {
            "type": p.ITEM_TRUNCATE,
            "event_id": EID,
            "item_id": PRELUDE,
            "audio_end_ms": -(10**300),
            "content_index": 1,
        },
        _user_item(10),
        Wire.of(b'{"type": "response.resume", "event_id": "$EID"}'),
    ),
    linger=0.05,
)


@settings(FUZZ, max_examples=250)
@given(program=programs())
@example(program=EVICTED_PRELUDE)
async def test_any_frames_leave_server_and_sessions_intact(
    quiet_arena: Arena, program: Program
) -> None:
    await play(quiet_arena, program)


@settings(FUZZ, max_examples=40)
@given(program=programs(max_ops=12, oversize=False))
async def test_any_frames_with_speech(espeak_arena: Arena, program: Program) -> None:
    await play(espeak_arena, program)
