"""One fuzz example from start to finish, and the invariants checked after it.

1. A fresh session does a normal turn (so there is an assistant item to truncate).
2. The program's frames go out back to back while a reader collects everything.
3. A sentinel frame follows (an unknown event: once its error is in, every
   frame before it has been answered); the started responses get to stream
   for a moment; a cleanup ``response.cancel`` and a second sentinel end it.
4. Checked: each frame got exactly the immediate answers the model allows, in
   order (so every bad frame got exactly one error); every started response
   ended with one ``response.done`` and lost nothing; the session still does a
   normal turn; the server, its log and the bystander session are fine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any, Final

from websockets.exceptions import ConnectionClosed

from server import protocol as p
from server.app import Server
from tests.fuzz.history import Entry, History, ItemInfo
from tests.fuzz.matcher import (
    Sent,
    check_answers,
    check_error_shapes,
    check_event_ids,
    check_pauses,
    check_responses,
)
from tests.fuzz.oracle import ACTIVE, IDLE, Context, expect
from tests.fuzz.program import Program, Resolver, Sleep
from tests.fuzz.session_tools import (
    Bystander,
    Collector,
    ErrorLog,
    error_with_id,
    healthz,
    normal_turn,
)
from tests.fuzz.upstream import NORMAL_TEXT, RoutedLLM
from tests.fuzz.wire import Wire, send_wire
from tests.helpers.client import Client

FIRST_SENTINEL: Final = {"type": "fuzz.sentinel", "event_id": "fuzz-sentinel-1"}
CLOSING: Final = (
    {"type": p.RESPONSE_CANCEL, "event_id": "fuzz-end-cancel"},
    {"type": "fuzz.sentinel", "event_id": "fuzz-sentinel-2"},
)
PRELUDE_PROMPT: Final = "normal turn"


@dataclass
class Arena:
    """A server under fuzz, its upstream, a bystander session and the server's error log."""

    server: Server
    llm: RoutedLLM
    bystander: Bystander
    log: ErrorLog
    tts: bool

    async def check_alive(self) -> None:
        """The server answers, logged no error, and the bystander streams on undisturbed."""
        await healthz(self.server)
        self.bystander.check()
        self.log.check()


async def play(arena: Arena, program: Program) -> None:
    """Run one example against a fresh session and check every invariant."""
    arena.llm.fuzz_reply = "normal"
    client = await Client.open(arena.server.ws_url)
    try:
        await _fuzz(arena, client, program)
        arena.llm.fuzz_reply = "normal"
        await normal_turn(client, NORMAL_TEXT, "are you still there?")
        if program.oversize is not None:
            await _oversize(arena, client, program.oversize)
    finally:
        arena.llm.fuzz_reply = "normal"
        await client.close()
    await arena.check_alive()


async def _fuzz(arena: Arena, client: Client, program: Program) -> None:
    prelude = await normal_turn(client, NORMAL_TEXT, PRELUDE_PROMPT)
    item_id = prelude["response"]["output"][0]["id"]
    resolver = Resolver(item_id, prelude["audio_ms"])
    arena.llm.fuzz_reply = program.reply
    ctx = Context(_prelude_history(arena, item_id, prelude["audio_ms"]), len(arena.llm.fuzz_text()))
    lingering = arena.llm.open_fuzz_replies
    collector = Collector(client)
    try:
        sent, starters = await _send_all(client, resolver, ctx, (*program.ops, FIRST_SENTINEL))
        await collector.until(error_with_id("fuzz-sentinel-1"), "answer to the last frame")
        started = _started(starters, collector.events)
        # The client has had an answer, so every started response's task has run by now.
        await asyncio.sleep(program.linger)
        closing, _ = await _send_all(client, resolver, ctx, CLOSING)
        sent += closing
        await collector.until(error_with_id("fuzz-sentinel-2"), "answer to the cleanup cancel")
        await collector.until(
            lambda events: _count(events, p.RESPONSE_DONE) >= started,
            f"response.done of all {started} started responses",
        )
    finally:
        await collector.stop()
    events = collector.events
    assert collector.closed is None, f"connection closed: {collector.closed}"
    check_error_shapes(events, tts=arena.tts)
    check_event_ids(events)
    check_answers(sent, events, ends_itself=program.reply != "stall")
    check_pauses(events)
    statuses = check_responses(events, arena.llm.fuzz_text())
    assert len(statuses) == started, f"{started} responses started, {len(statuses)} seen"
    # Every ended response has closed its upstream request.
    await arena.llm.settled(lingering)


async def _send_all(
    client: Client, resolver: Resolver, ctx: Context, ops: tuple[Any, ...]
) -> tuple[list[Sent], list[Any]]:
    """Send the ops; return the model of each frame and the event_ids of possible starters."""
    sent: list[Sent] = []
    starters: list[Any] = []
    for op in ops:
        if isinstance(op, Sleep):
            await asyncio.sleep(op.seconds)
            continue
        event = resolver.value(op) if isinstance(op, dict) else None
        wire = Wire.of(json.dumps(event)) if event is not None else resolver.wire(op)
        assert len(wire.data) <= p.MAX_FRAME_BYTES, f"generator made an oversize frame {wire!r}"
        table = expect(wire, ctx)
        if any(after == ACTIVE for _, after in table[IDLE]):
            starters.append(event.get("event_id") if event is not None else None)
        sent.append(Sent(wire, table))
        await send_wire(client, wire)
    return sent, starters


def _prelude_history(arena: Arena, item_id: str, audio_ms: float) -> History:
    """The session's history after the prelude turn, under the server's bounds."""
    limits = arena.server.settings.limits
    history = History(limits.history_chars, limits.history_items)
    history.add(Entry(None, "user", ItemInfo(False), len(PRELUDE_PROMPT), len(PRELUDE_PROMPT)))
    answer = ItemInfo(assistant_audio=True, audio_ms=audio_ms)
    history.add(Entry(item_id, "assistant", answer, len(NORMAL_TEXT), len(NORMAL_TEXT)))
    return history


def _started(starters: list[Any], events: list[dict[str, Any]]) -> int:
    """How many responses the frames started: starters minus the ones refused."""
    ids = [s for s in starters if isinstance(s, str)]
    assert len(set(ids)) == len(starters), f"give every response.create its own id: {starters}"
    refused = sum(1 for e in events if e["type"] == p.ERROR and e["error"]["event_id"] in ids)
    return len(starters) - refused


def _count(events: list[dict[str, Any]], kind: str) -> int:
    return sum(1 for e in events if e["type"] == kind)


async def _oversize(arena: Arena, client: Client, size: int) -> None:
    """A too-big frame closes only its own connection, with 1009."""
    with contextlib.suppress(ConnectionClosed):
        await send_wire(client, Wire.of("x" * size))
    try:
        while True:
            await client.recv(timeout=5)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 1009, closed
    fresh = await Client.open(arena.server.ws_url)
    try:
        await normal_turn(fresh, NORMAL_TEXT)
    finally:
        await fresh.close()
