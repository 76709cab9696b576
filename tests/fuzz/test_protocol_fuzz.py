"""Property: no sequence of client frames, however broken, hurts the server or another session."""

from __future__ import annotations

from hypothesis import given, settings

from tests.fuzz.harness import Arena, play
from tests.fuzz.program import Program
from tests.fuzz.strategies import programs

FUZZ = settings.get_profile("talkterm-fuzz")


@settings(FUZZ, max_examples=250)
@given(program=programs())
async def test_any_frames_leave_server_and_sessions_intact(
    quiet_arena: Arena, program: Program
) -> None:
    await play(quiet_arena, program)


@settings(FUZZ, max_examples=40)
@given(program=programs(max_ops=12, oversize=False))
async def test_any_frames_with_speech(espeak_arena: Arena, program: Program) -> None:
    await play(espeak_arena, program)
