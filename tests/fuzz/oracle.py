"""What the server must answer to one client frame, as docs/protocol.md describes it.

The session reads one frame, answers it *immediately* (an ``error``,
``session.updated``, ``conversation.item.added``/``.done``,
``conversation.item.truncated``, ``response.paused``/``.resumed``) and only then
reads the next, so immediate answers arrive in frame order. Responses stream on
their own, so the response state is tracked as a set of possibilities::

    IDLE ──create──▶ ACTIVE ──cancel──────────────▶ IDLE
                       └──(completes by itself)──▶ IDLE

A cancelled response is over for the client at once: a second cancel (or a
pause/resume) gets the ``*_not_active`` error and a response.create starts the
next response even before the cancelled one's response.done is out.

``expect(wire, ctx)`` gives a Table: for each state the frame may meet, the
immediate answers it may get and the state it leaves. Error codes are sets:
the docs do not say which of several faults in one frame is reported.
Which items are still there (``item_not_found``, ``duplicate_item_id``) follows
the history bounds, modelled in history.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from server import protocol as p
from server.session.audio_items import is_spoken
from tests.fuzz.history import Entry, History, ItemInfo
from tests.fuzz.wire import Wire

IDLE: Final = "idle"
ACTIVE: Final = "active"
STATES: Final = (IDLE, ACTIVE)
# An integer literal longer than this is not accepted as JSON (docs/protocol.md).
MAX_DIGITS: Final = 1000

# The docs name invalid_type for a wrong type, the server says invalid_value in session.update.
_SESSION_FAULT: Final = frozenset({"invalid_value", "invalid_type"})


@dataclass(frozen=True)
class Err:
    """An ``error`` event with one of ``codes`` that echoes ``event_id``."""

    codes: frozenset[str]
    event_id: str | None

    def __str__(self) -> str:
        echo = "" if self.event_id is None else f" event_id={self.event_id[:40]!r}"
        return f"error{sorted(self.codes)}{echo}"


@dataclass(frozen=True)
class Ack:
    """A non-error immediate answer; ``text`` (when given) must come back unchanged."""

    kind: str
    text: str | None = None

    def __str__(self) -> str:
        return self.kind


Reaction = Err | Ack
Outcome = tuple[Reaction, ...]
Table = dict[str, list[tuple[Outcome, str]]]


@dataclass
class Context:
    """The part of the session the model tracks: its history, and how long an answer runs."""

    history: History
    # The most characters one response of this example streams (its item may hold them).
    reply_chars: int = 0


def expect(wire: Wire, ctx: Context) -> Table:
    """The Table for one frame; updates ``ctx`` when the frame (maybe) adds an item."""
    if not wire.text:
        return fixed(Err(frozenset({"binary_not_supported"}), None))
    try:
        raw = wire.data.decode("utf-8")
    except UnicodeDecodeError:
        return fixed(Err(frozenset({"invalid_utf8"}), None))
    try:
        event = json.loads(raw, parse_int=_bounded_int, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return fixed(Err(frozenset({"invalid_json"}), None))
    if not isinstance(event, dict):
        return fixed(Err(frozenset({"invalid_event"}), None))
    eid = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    kind = event.get("type")
    if kind is None:
        return fixed(Err(frozenset({"missing_type", "invalid_type"}), eid))
    if not isinstance(kind, str):
        return fixed(Err(frozenset({"invalid_type"}), eid))
    handler = _HANDLERS.get(kind)
    if handler is None:
        return fixed(Err(frozenset({"unknown_event"}), eid))
    return handler(event, eid, ctx)


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def fixed(*outcome: Reaction) -> Table:
    """A frame whose answer does not depend on the response state."""
    return {state: [(outcome, state)] for state in STATES}


def either(*tables: Table) -> Table:
    """A frame whose answer is any of the tables' (what the model cannot know)."""
    return {state: [row for table in tables for row in table[state]] for state in STATES}


def error(eid: str | None, *codes: str) -> Err:
    """Shorthand for an Err."""
    return Err(frozenset(codes), eid)


# -- session.update -----------------------------------------------------------


def _session_update(event: dict[str, Any], eid: str | None, ctx: Context) -> Table:
    """One error per bad field, then session.updated with the good ones applied."""
    session: Any = event.get("session")
    if not isinstance(session, dict) or session.get("type", "realtime") != "realtime":
        return fixed(Err(_SESSION_FAULT, eid))
    errors = [Err(_SESSION_FAULT, eid)] * session_faults(session)
    instructions = session.get("instructions")
    echoed = instructions if isinstance(instructions, str) else None
    return fixed(*errors, Ack(p.SESSION_UPDATED, echoed))


def session_faults(session: dict[str, Any]) -> int:
    """How many of a session's documented fields have a wrong type or value."""
    faults = 0
    if "instructions" in session and not isinstance(session["instructions"], str):
        faults += 1
    if "output_modalities" in session and session["output_modalities"] not in (
        ["text"],
        ["audio"],
    ):
        faults += 1
    return faults + _audio_faults(session.get("audio")) + _extension_faults(session.get("talkterm"))


def _audio_faults(audio: Any) -> int:
    if audio is None:
        return 0
    if not isinstance(audio, dict):
        return 1
    output = audio.get("output")
    if output is None:
        return 0
    if not isinstance(output, dict):
        return 1
    faults = 0
    if "voice" in output and (not isinstance(output["voice"], str) or not output["voice"].strip()):
        faults += 1
    return faults + ("format" in output and format_is_bad(output["format"]))


def format_is_bad(fmt: Any) -> bool:
    """Whether an output format is outside the documented three."""
    if not isinstance(fmt, dict):
        return True
    kind = fmt.get("type")
    if not isinstance(kind, str) or kind not in p.AUDIO_FORMATS:
        return True
    return kind == "audio/pcm" and fmt.get("rate", p.PCM_RATE) != p.PCM_RATE


def _extension_faults(ext: Any) -> int:
    if ext is None:
        return 0
    if not isinstance(ext, dict):
        return 1
    return int("binary_audio" in ext and not isinstance(ext["binary_audio"], bool))


# -- conversation.item.create / .truncate --------------------------------------


def _item_create(event: dict[str, Any], eid: str | None, ctx: Context) -> Table:
    item: Any = event.get("item")
    faults = item_faults(item)
    if faults:
        return fixed(Err(faults, eid))
    item_id = item.get("id") or None
    after = event.get("previous_item_id")
    if after is not None and after != "root":
        known = isinstance(after, str) and any(e.surely_here for e in ctx.history.find(after))
        if not known:  # (fuzzed ids never name an item of the session)
            return fixed(error(eid, "item_not_found"))
    text = "\n".join(part["text"] for part in item["content"])
    added = fixed(Ack(p.ITEM_ADDED, text), Ack(p.ITEM_DONE, text))
    # An id is taken while its item is there: one the bounds dropped may be used again.
    same = ctx.history.find(item_id) if item_id else []
    if any(e.surely_here for e in same):
        return fixed(error(eid, "duplicate_item_id"))
    entry = Entry(item_id, item["role"], ItemInfo(assistant_audio=False), len(text), len(text))
    entry.surely_added = not same
    ctx.history.add(entry)
    return either(added, fixed(error(eid, "duplicate_item_id"))) if same else added


# A user message with an input_audio part is a spoken one; the fuzzed audio ("AAAA", three
# bytes) is never a turn, so it is refused with one of these (server/session/audio_items.py).
SPOKEN_FAULTS = frozenset(
    {"invalid_value", "invalid_type", "invalid_base64", "invalid_audio_format", "stt_unavailable"}
)


def item_faults(item: Any) -> frozenset[str]:
    """Codes for everything wrong with a client's message item (empty if it is fine)."""
    if not isinstance(item, dict):
        return frozenset({"invalid_type"})
    if is_spoken({"item": item}):
        return SPOKEN_FAULTS
    faults = set()
    role = item.get("role")
    if item.get("type", "message") != "message" or role not in ("user", "system", "assistant"):
        faults.add("invalid_value")
    # An assistant item re-seeds a conversation with what was said: output_text (or text).
    kinds = ("output_text", "text") if role == "assistant" else ("input_text", "text")
    content = item.get("content")
    if not isinstance(content, list) or not content:
        faults.add("invalid_type")
    else:
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in kinds:
                faults.add("invalid_value")
            elif not isinstance(part.get("text"), str):
                faults.add("invalid_type")
    item_id = item.get("id")
    if item_id is not None and not isinstance(item_id, str):
        faults.add("invalid_type")
    return frozenset(faults)


def _truncate(event: dict[str, Any], eid: str | None, ctx: Context) -> Table:
    faults = _field_faults(event, "item_id", str) | _field_faults(event, "audio_end_ms", int)
    if faults:
        return fixed(Err(frozenset(faults), eid))
    missing = fixed(error(eid, "item_not_found"))
    tables = []
    for entry in ctx.history.find(event["item_id"]):
        table = _truncate_item(event, eid, entry.info)
        if any(Ack(p.ITEM_TRUNCATED) in outcome for outcome, _ in table[IDLE]):
            entry.shortest = 0  # it keeps only what was heard: maybe nothing
        tables.append(table)
    if not any(e.surely_here for e in ctx.history.find(event["item_id"])):
        tables.append(missing)  # the history bound may have dropped it
    return either(*tables)


def _truncate_item(event: dict[str, Any], eid: str | None, item: ItemInfo) -> Table:
    end = event["audio_end_ms"]
    faults = set()
    if not item.assistant_audio:
        faults.add("invalid_item")
    if event.get("content_index", 0) != 0:
        faults.add("invalid_value")
    if not 0 <= end <= item.audio_ms + 1:
        faults.add("invalid_value")
    if faults:
        return fixed(Err(frozenset(faults), eid))
    return fixed(Ack(p.ITEM_TRUNCATED))


def _field_faults(event: dict[str, Any], name: str, kind: type) -> set[str]:
    value = event.get(name)
    if value is None:
        return {"missing_required_parameter"}
    if not isinstance(value, kind) or isinstance(value, bool):
        return {"invalid_type"}
    return set()


# -- response.create / cancel / pause / resume ----------------------------------


def _response_create(event: dict[str, Any], eid: str | None, ctx: Context) -> Table:
    faults = response_body_faults(event.get("response"))
    busy = Err(faults | {"conversation_already_has_active_response"}, eid)
    if not faults:
        # Its answer's item, if the session was idle; it holds what has streamed so far.
        entry = Entry(None, "assistant", ItemInfo(assistant_audio=False), 0, ctx.reply_chars)
        entry.surely_added = False
        ctx.history.add(entry)
    return {
        IDLE: [((Err(faults, eid),), IDLE)] if faults else [((), ACTIVE)],
        ACTIVE: [((busy,), ACTIVE)],
    }


def response_body_faults(body: Any) -> frozenset[str]:
    """Codes for a bad ``response`` object of response.create."""
    if body is None:
        return frozenset()
    if not isinstance(body, dict):
        return frozenset({"invalid_type"})
    faults = set()
    modalities = body.get("output_modalities")
    if modalities is not None and modalities not in (["text"], ["audio"]):
        faults.add("invalid_value")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        faults.add("invalid_type")
    return frozenset(faults)


def _control(code: str, ack: str | None) -> Callable[[dict[str, Any], str | None, Context], Table]:
    """cancel (no ack), pause and resume: act on the active response or fail with ``code``."""

    def table(event: dict[str, Any], eid: str | None, ctx: Context) -> Table:
        fail = (error(eid, code),)
        wanted = event.get("response_id")
        if wanted is not None and not isinstance(wanted, str):
            return fixed(error(eid, "invalid_type"))
        if wanted is not None:
            # No fuzzed id ever names the running response ("" included).
            return fixed(*fail)
        done = (Ack(ack),) if ack else ()
        after = ACTIVE if ack else IDLE
        return {IDLE: [(fail, IDLE)], ACTIVE: [(done, after)]}

    return table


_HANDLERS: Final[dict[str, Callable[[dict[str, Any], str | None, Context], Table]]] = {
    p.SESSION_UPDATE: _session_update,
    p.ITEM_CREATE: _item_create,
    p.ITEM_TRUNCATE: _truncate,
    p.RESPONSE_CREATE: _response_create,
    p.RESPONSE_CANCEL: _control("response_cancel_not_active", None),
    p.RESPONSE_PAUSE: _control("response_pause_not_active", p.RESPONSE_PAUSED),
    p.RESPONSE_RESUME: _control("response_resume_not_active", p.RESPONSE_RESUMED),
}
