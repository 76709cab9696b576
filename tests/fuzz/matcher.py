"""Check what one session received against the model of what it sent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from server import protocol as p
from tests.fuzz.oracle import ACTIVE, IDLE, Err, Outcome, Reaction, Table
from tests.fuzz.wire import Wire

_IMMEDIATE = frozenset({p.SESSION_UPDATED, p.ITEM_TRUNCATED, p.RESPONSE_PAUSED, p.RESPONSE_RESUMED})
_TTS_ERRORS = frozenset({"tts_failed", "tts_unavailable"})


@dataclass(frozen=True)
class Sent:
    """A frame that went out and the model's Table for it."""

    wire: Wire
    table: Table


def is_immediate(event: dict[str, Any]) -> bool:
    """Whether the session sends this as the direct answer to a frame (so in frame order)."""
    kind = event["type"]
    if kind == p.ERROR:
        return event["error"]["type"] == "invalid_request_error"
    if kind in (p.ITEM_ADDED, p.ITEM_DONE):
        return event["item"]["role"] != "assistant"
    return kind in _IMMEDIATE


def check_answers(sent: list[Sent], events: list[dict[str, Any]], *, ends_itself: bool) -> None:
    """Every frame got exactly the immediate answers the model allows, in frame order."""
    answers = [e for e in events if is_immediate(e)]
    configs = {(IDLE, 0)}
    for index, frame in enumerate(sent):
        configs = _settle(configs, ends_itself)
        moved = {
            (after, pos + len(outcome))
            for state, pos in configs
            for outcome, after in frame.table[state]
            if _matches(answers, pos, outcome)
        }
        if not moved:
            raise AssertionError(_mismatch(index, frame, configs, answers))
        configs = moved
    ends = sorted(pos for _, pos in configs)
    assert len(answers) in ends, f"answers nobody asked for: {answers[ends[-1] :][:5]}"


def _settle(configs: set[tuple[str, int]], ends_itself: bool) -> set[tuple[str, int]]:
    """Add the states a response may reach on its own before the next frame is read."""
    out = set(configs)
    for state, pos in configs:
        if state == ACTIVE and ends_itself:
            out.add((IDLE, pos))
    return out


def _matches(answers: list[dict[str, Any]], pos: int, outcome: Outcome) -> bool:
    if pos + len(outcome) > len(answers):
        return False
    return all(_fits(answers[pos + i], want) for i, want in enumerate(outcome))


def _fits(event: dict[str, Any], want: Reaction) -> bool:
    if isinstance(want, Err):
        if event["type"] != p.ERROR:
            return False
        err = event["error"]
        return err["code"] in want.codes and err["event_id"] == want.event_id
    if event["type"] != want.kind:
        return False
    return want.text is None or _echoed_text(event) == want.text


def _echoed_text(event: dict[str, Any]) -> str | None:
    if event["type"] == p.SESSION_UPDATED:
        return event["session"]["instructions"]
    return event["item"]["content"][0]["text"]


def _mismatch(
    index: int, frame: Sent, configs: set[tuple[str, int]], answers: list[dict[str, Any]]
) -> str:
    pos = min(pos for _, pos in configs)
    got = [_brief(e) for e in answers[pos : pos + 4]]
    allowed = {
        state: [" + ".join(map(str, outcome)) or "(nothing)" for outcome, _ in frame.table[state]]
        for state in sorted({s for s, _ in configs})
    }
    return f"frame #{index} {frame.wire!r}\n  model allows {allowed}\n  server answered {got}"


def _brief(event: dict[str, Any]) -> str:
    if event["type"] == p.ERROR:
        err = event["error"]
        return f"error[{err['code']}] event_id={str(err['event_id'])[:40]!r}"
    return event["type"]


def check_error_shapes(events: list[dict[str, Any]], *, tts: bool) -> None:
    """Errors have the documented shape; the only unprompted ones are speech failures."""
    for event in events:
        if event["type"] != p.ERROR:
            continue
        err = event["error"]
        assert isinstance(err["message"], str) and err["message"], event
        assert err["param"] is None or isinstance(err["param"], str), event
        assert err["event_id"] is None or isinstance(err["event_id"], str), event
        if err["type"] != "invalid_request_error":
            assert tts and err["type"] == "server_error" and err["code"] in _TTS_ERRORS, event


def check_event_ids(events: list[dict[str, Any]]) -> None:
    """Every server event carries its own fresh event_id."""
    ids = Counter(e.get("event_id") for e in events)
    repeated = [i for i, n in ids.items() if n > 1 or not isinstance(i, str)]
    assert not repeated, f"event_id missing or repeated: {repeated[:3]}"


def response_of(event: dict[str, Any]) -> str | None:
    """The response an event belongs to, if any."""
    if event["type"] in (p.RESPONSE_CREATED, p.RESPONSE_DONE):
        return event["response"]["id"]
    return event.get("response_id")


def check_responses(events: list[dict[str, Any]], full_text: str) -> dict[str, str]:
    """Each response is well formed and lost nothing; returns its status by id."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        rid = response_of(event)
        if rid is not None:
            by_id.setdefault(rid, []).append(event)
    statuses = {}
    for rid, mine in by_id.items():
        kinds = [e["type"] for e in mine]
        status = mine[-1]["response"]["status"] if kinds[-1] == p.RESPONSE_DONE else None
        assert kinds.count(p.RESPONSE_DONE) == 1 and status, f"{rid}: ends {kinds[-5:]}"
        _check_opening(rid, kinds, cancelled=status == "cancelled")
        text = "".join(e["delta"] for e in mine if e["type"] in (p.TEXT_DELTA, p.TRANSCRIPT_DELTA))
        if status == "completed":
            assert text == full_text, f"{rid}: {text!r} != {full_text!r}"
        else:
            assert status == "cancelled", f"{rid} ended {status}: {mine[-1]}"
            assert full_text.startswith(text), f"{rid}: {text!r} is not a prefix"
        statuses[rid] = status
    return statuses


def _check_opening(rid: str, kinds: list[str], *, cancelled: bool) -> None:
    """A response is announced by one response.created before anything else of it.

    That holds for a response cancelled (or paused) in the same read as its
    response.create too (test_sequences.py).
    """
    assert kinds[0] == p.RESPONSE_CREATED and kinds.count(p.RESPONSE_CREATED) == 1, (
        f"{rid} (cancelled={cancelled}): {kinds[:5]}"
    )


def check_pauses(events: list[dict[str, Any]]) -> None:
    """Nothing of a paused response is sent before it is resumed, but for the
    closing of a response cancelled while paused: its item closed as incomplete, then
    response.done (test_sequences.py).

    response.paused and .resumed name their response and its item.
    """
    paused: set[str] = set()
    items: dict[str, str] = {}
    for event in events:
        kind = event["type"]
        rid = response_of(event)
        if kind == p.OUTPUT_ITEM_ADDED:
            items[event["response_id"]] = event["item"]["id"]
        if kind in (p.RESPONSE_PAUSED, p.RESPONSE_RESUMED):
            assert rid in items and event.get("item_id") == items[rid], event
            (paused.add if kind == p.RESPONSE_PAUSED else paused.discard)(rid)
        elif rid in paused and kind == p.OUTPUT_ITEM_DONE:
            # A cancel while paused closes the item (incomplete) before response.done.
            assert event["item"]["status"] == "incomplete", f"{rid}: {event} while paused"
        elif rid in paused:
            status = event["response"]["status"] if kind == p.RESPONSE_DONE else None
            assert status == "cancelled", f"{rid}: {kind} (status {status}) while paused"
            paused.discard(rid)
