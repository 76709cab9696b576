"""Every field of a Chat Completions body, given a value of the wrong type, gets a 400 that
names a field; never a 500 with a traceback."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from server.http.chat_request import parse_chat_request
from server.http.errors import BadRequest

FULL: dict[str, Any] = {
    "model": "m",
    "stream": True,
    "stream_options": {"include_usage": True},
    "max_completion_tokens": 10,
    "max_tokens": 10,
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "pcm16"},
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": None, "audio": {"id": "audio_1", "transcript": "t"}},
        {"role": "user", "content": "again"},
    ],
}
WRONG: list[Any] = [{}, [], [{}], [["text"]], [None], "s", "", 0, -1, 1.5, True, None]


def paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value, the value itself included."""
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*path, index))


def replaced(path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    body = copy.deepcopy(FULL)
    where = body
    for part in path[:-1]:
        where = where[part]
    where[path[-1]] = new
    return body


CASES = [(path, new) for path in paths(FULL) if path for new in WRONG]


def test_the_full_body_is_valid() -> None:
    assert parse_chat_request(json.dumps(FULL).encode()).audio


@pytest.mark.parametrize(("path", "new"), CASES, ids=[f"{p}={n!r}" for p, n in CASES])
def test_a_wrong_type_is_a_400_naming_a_field(path: tuple[Any, ...], new: Any) -> None:
    try:
        parse_chat_request(json.dumps(replaced(path, new)).encode())
    except BadRequest as exc:
        assert exc.param, exc.message  # says which field
