"""Hypothesis strategies for fuzz programs: valid and invalid events and raw frames.

Lone surrogates and integers of more than 1,000 digits are covered by the
fixed corpus (bad_frames.jsonl) rather than generated here.
"""

from __future__ import annotations

import json
from typing import Any, Final

from hypothesis import strategies as st

from server import protocol as p
from server.session.frames import TEXT_MARK
from tests.fuzz.program import (
    EID,
    END_OK,
    END_OVER,
    FILLER_MAX,
    PRELUDE,
    Filler,
    Nest,
    Op,
    Program,
    Sleep,
    dumps,
)
from tests.fuzz.upstream import REPLIES
from tests.fuzz.wire import Wire

ABSENT: Final = object()
ITEM_IDS: Final = ("fz-item-a", "fz-item-b", PRELUDE)
NEAR_MISSES: Final = (
    "response.Create",
    "session.update ",
    "response.output_text.delta",
    "session.created",
    "error",
    "input_audio_buffer.Append",
    "response.cancel.now",
    "",
)
BAD_UTF8: Final = (b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82")

texts = st.text(max_size=24)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=10,
)
# Sizes cluster at the ends: tiny, around the 64 KiB buffers, and right under the limit.
huge = st.one_of(
    st.integers(1, 4096),
    st.integers(60_000, 70_000),
    st.integers(FILLER_MAX - 4096, FILLER_MAX),
).map(Filler)
shallow = st.integers(1, 200).map(Nest)


def obj(**fields: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts of these fields; a field drawn as ABSENT is left out."""
    strategies = {
        k: v if isinstance(v, st.SearchStrategy) else st.just(v) for k, v in fields.items()
    }
    return st.fixed_dictionaries(strategies).map(
        lambda d: {k: v for k, v in d.items() if v is not ABSENT}
    )


def maybe(*options: Any) -> st.SearchStrategy[Any]:
    """One of the options: constants or strategies, ABSENT allowed."""
    return st.one_of(*(o if isinstance(o, st.SearchStrategy) else st.just(o) for o in options))


event_ids = maybe(EID, EID, EID, ABSENT, json_values)
junk = st.dictionaries(
    st.sampled_from(["junk", "extra", "x-debug"]), json_values | shallow, max_size=2
)


def with_junk(events: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Events with unknown extra fields, which the server ignores."""
    return st.builds(lambda e, j: {**j, **e}, events, junk)


# -- session.update -----------------------------------------------------------

formats = maybe(
    obj(type="audio/pcm", rate=maybe(ABSENT, 24000, 16000, json_values)),
    obj(type=st.sampled_from(["audio/pcmu", "audio/pcma", "audio/flac", "pcm"])),
    obj(type=st.none() | st.booleans() | st.integers() | texts | json_values),
    json_values,
)
voices = maybe("en-us", "en-gb", "alloy", " ", "", texts, json_values)
outputs = obj(voice=maybe(ABSENT, voices), format=maybe(ABSENT, formats))
sessions = obj(
    type=maybe(ABSENT, ABSENT, "realtime", json_values),
    instructions=maybe(ABSENT, ABSENT, texts, json_values),
    output_modalities=maybe(ABSENT, ["text"], ["audio"], ["text", "audio"], json_values),
    audio=maybe(ABSENT, None, obj(output=maybe(ABSENT, None, outputs, json_values)), json_values),
    talkterm=maybe(ABSENT, None, obj(binary_audio=maybe(ABSENT, st.booleans(), json_values))),
)
session_updates = obj(
    type=p.SESSION_UPDATE,
    event_id=event_ids,
    session=maybe(sessions, sessions, json_values, ABSENT),
)


# -- conversation.item.create / .truncate --------------------------------------

user_texts = maybe(texts.map(lambda t: "fuzz " + t), json_values)
parts = maybe(
    obj(type=st.sampled_from(["input_text", "text"]), text=user_texts),
    obj(type=st.sampled_from(["input_audio", "output_text", "image"]), audio="AAAA"),
    json_values,
)
items = obj(
    type=maybe(ABSENT, ABSENT, "message", json_values),
    role=maybe("user", "user", "system", "assistant", json_values),
    content=maybe(st.lists(parts, min_size=1, max_size=3), [], json_values),
    id=maybe(ABSENT, ABSENT, None, st.sampled_from(ITEM_IDS), "", json_values),
)
item_creates = obj(
    type=p.ITEM_CREATE,
    event_id=event_ids,
    item=maybe(items, items, json_values, ABSENT),
    previous_item_id=maybe(ABSENT, json_values),
)
audio_ends = maybe(
    END_OK,
    END_OVER,
    ABSENT,
    0,
    -1,
    st.integers(-(10**6), 10**6),
    st.integers(-(10**300), 10**300),  # absurd, yet under Python's 4300-digit limit
    json_values,
)
prelude_truncates = obj(
    type=p.ITEM_TRUNCATE,
    event_id=EID,
    item_id=PRELUDE,
    content_index=maybe(ABSENT, ABSENT, 0, 1),
    audio_end_ms=maybe(END_OK, END_OK, END_OVER, 0, -1, 10**300, -(10**300)),
)
truncates = obj(
    type=p.ITEM_TRUNCATE,
    event_id=event_ids,
    item_id=maybe(st.sampled_from(ITEM_IDS), PRELUDE, ABSENT, texts, json_values),
    content_index=maybe(ABSENT, 0, json_values.filter(lambda v: v != 0)),
    audio_end_ms=audio_ends,
)

# -- response.create / cancel / pause / resume ----------------------------------

bodies = maybe(
    ABSENT,
    None,
    obj(
        output_modalities=maybe(ABSENT, None, ["text"], ["audio"], json_values),
        instructions=maybe(ABSENT, None, texts, json_values),
    ),
    json_values,
)
creates = obj(type=p.RESPONSE_CREATE, event_id=EID, response=bodies)
controls = obj(
    type=st.sampled_from([p.RESPONSE_CANCEL, p.RESPONSE_PAUSE, p.RESPONSE_RESUME]),
    event_id=event_ids,
    response_id=maybe(ABSENT, ABSENT, ABSENT, "", texts, json_values),
)
storms = st.lists(with_junk(creates) | with_junk(controls) | controls, min_size=2, max_size=12)

# -- frames that are not events ------------------------------------------------

unknown_types = obj(
    type=st.sampled_from(NEAR_MISSES) | texts.filter(lambda t: t not in p.CLIENT_EVENTS),
    event_id=maybe(event_ids, huge),
)
untyped = obj(type=maybe(ABSENT, None, json_values), event_id=event_ids, session=json_values)
any_events = (
    session_updates | item_creates | truncates | creates | controls | unknown_types | untyped
)


def _bad_utf8(event: dict[str, Any], where: int, bad: bytes) -> Wire:
    data = dumps(event).encode()
    at = where % (len(data) + 1)
    return Wire(data[:at] + bad + data[at:], text=True)


def _cut(event: dict[str, Any], where: int) -> Wire:
    data = dumps(event).encode()
    return Wire(data[: where % max(len(data), 1)], text=True)


def _binary(data: bytes) -> Wire:
    return Wire(data, text=False)


raw_frames = st.one_of(
    texts.map(Wire.of),
    json_values.map(lambda v: Wire.of(json.dumps(v))),
    st.builds(_cut, unknown_types | controls, st.integers(0, 200)),
    st.builds(_bad_utf8, unknown_types | controls, st.integers(0, 200), st.sampled_from(BAD_UTF8)),
    st.binary(max_size=64).map(_binary),
    # A near-forged mark. Not a whole one (a next byte of 0): only the server's process
    # knows the random mark, the fuzzer knows it by sharing that process.
    st.binary(max_size=64)
    .filter(lambda b: b[:1] != b"\x00")
    .map(lambda b: _binary(TEXT_MARK[:-1] + b)),
    any_events.map(lambda e: _binary(dumps(e).encode())),
    st.sampled_from([5_000, 50_000, 200_000]).map(Nest),
    st.sampled_from([5_000, 100_000]).map(lambda d: Nest(d, objects=True)),
    shallow,
    st.builds(Nest, st.integers(1, 200), st.just(True)),
    huge,
)

huge_events = st.one_of(
    huge.map(lambda f: {"type": p.SESSION_UPDATE, "event_id": EID, "session": {"instructions": f}}),
    huge.map(
        lambda f: {
            "type": p.ITEM_CREATE,
            "event_id": EID,
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": f}],
            },
        }
    ),
    huge.map(lambda f: {"type": p.RESPONSE_PAUSE, "event_id": EID, "junk": f}),
)

single_ops: st.SearchStrategy[Op] = st.one_of(
    session_updates,
    item_creates,
    truncates,
    prelude_truncates,
    with_junk(creates),
    controls,
    unknown_types,
    untyped,
    raw_frames,
    # Long enough, now and then, for a quick response to finish.
    st.sampled_from([0.0, 0.005, 0.02, 0.06]).map(Sleep),
)


def programs(*, max_ops: int = 24, oversize: bool = True) -> st.SearchStrategy[Program]:
    """Programs of single frames, storms of control events and the odd huge frame."""
    steps = st.one_of(single_ops.map(lambda op: [op]), storms, huge_events.map(lambda op: [op]))
    ops = st.lists(steps, min_size=2, max_size=max_ops // 2).map(
        lambda chunks: tuple(op for chunk in chunks for op in chunk)[:max_ops]
    )
    last = (
        st.one_of(st.none(), st.none(), st.none(), st.integers(1, 4096)) if oversize else st.none()
    )
    return st.builds(
        Program,
        reply=st.sampled_from(sorted(REPLIES)),
        ops=ops,
        linger=st.sampled_from([0.0, 0.01, 0.05]),
        oversize=last.map(lambda extra: None if extra is None else p.MAX_FRAME_BYTES + extra),
    )
