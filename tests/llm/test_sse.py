"""The SSE decoder and Chat Completions chunk parser, table-driven, without a network."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamServerError,
)
from server.llm.sse import (
    MESSAGE_LIMIT,
    ChatChunk,
    SSEDecoder,
    SSEEvent,
    TokenUsage,
    error_from_payload,
    parse_chat_chunk,
)

# (id, raw stream text, events expected once the stream has ended)
DECODER_CASES: list[tuple[str, str, list[SSEEvent]]] = [
    ("one event", "data: hello\n\n", [SSEEvent("hello")]),
    ("done sentinel", "data: [DONE]\n\n", [SSEEvent("[DONE]")]),
    ("keepalive comment", ": ping\n\ndata: x\n\n: ping\n\n", [SSEEvent("x")]),
    ("crlf line ends", "data: a\r\n\r\ndata: b\r\n\r\n", [SSEEvent("a"), SSEEvent("b")]),
    ("bare cr line ends", "data: a\r\rdata: b\r\r", [SSEEvent("a"), SSEEvent("b")]),
    ("multi-line data", 'data: {"a":\ndata: 1}\n\n', [SSEEvent('{"a":\n1}')]),
    (
        "event, id and retry fields",
        "event: error\nid: 7\nretry: 1500\ndata: x\n\n",
        [SSEEvent("x", event="error", id="7", retry=1500)],
    ),
    ("no space after colon", "data:x\n\n", [SSEEvent("x")]),
    ("only one space is stripped", "data:  x\n\n", [SSEEvent(" x")]),
    ("field name alone", "data\n\n", [SSEEvent("")]),
    ("blank lines alone", "\n\n\n", []),
    ("unknown field ignored", "foo: bar\ndata: x\n\n", [SSEEvent("x")]),
    ("retry that is not a number", "retry: soon\ndata: x\n\n", [SSEEvent("x")]),
    (
        "event type resets, id persists",
        "event: a\nid: 1\ndata: 1\n\ndata: 2\n\n",
        [SSEEvent("1", event="a", id="1"), SSEEvent("2", id="1")],
    ),
    ("event without data is dropped", "event: ping\n\ndata: x\n\n", [SSEEvent("x")]),
    ("byte order mark", "\ufeffdata: x\n\n", [SSEEvent("x")]),
    (
        "last event without blank line",
        "data: a\n\ndata: [DONE]",
        [SSEEvent("a"), SSEEvent("[DONE]")],
    ),
    ("last event ending in a lone cr", "data: [DONE]\r", [SSEEvent("[DONE]")]),
]


def decode_whole(raw: str) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = decoder.feed(raw)
    tail = decoder.close()
    return [*events, tail] if tail else events


def decode_pieces(pieces: list[str]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [event for piece in pieces for event in decoder.feed(piece)]
    tail = decoder.close()
    return [*events, tail] if tail else events


def decode_lines(raw: str) -> list[SSEEvent]:
    decoder = SSEDecoder()
    # As httpx's aiter_lines() delivers them: split on CRLF, CR or LF.
    lines = re.split(r"\r\n|\r|\n", raw)
    events = [event for line in lines if (event := decoder.feed_line(line)) is not None]
    tail = decoder.close()
    return [*events, tail] if tail else events


@pytest.mark.parametrize(
    ("raw", "expected"), [c[1:] for c in DECODER_CASES], ids=[c[0] for c in DECODER_CASES]
)
def test_decoder_whole_text(raw: str, expected: list[SSEEvent]) -> None:
    assert decode_whole(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [c[1:] for c in DECODER_CASES], ids=[c[0] for c in DECODER_CASES]
)
def test_decoder_one_character_at_a_time(raw: str, expected: list[SSEEvent]) -> None:
    assert decode_pieces(list(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [c[1:] for c in DECODER_CASES], ids=[c[0] for c in DECODER_CASES]
)
def test_decoder_line_by_line(raw: str, expected: list[SSEEvent]) -> None:
    assert decode_lines(raw) == expected


def test_feed_line_tolerates_a_leftover_cr() -> None:
    decoder = SSEDecoder()
    assert decoder.feed_line("data: x\r") is None
    assert decoder.feed_line("\r") == SSEEvent("x")


STREAM = "".join(raw for _, raw, _ in DECODER_CASES[:15])


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    pieces = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert decode_pieces(pieces) == decode_whole(STREAM)


def chunk(delta: dict[str, object] | None, finish: str | None = None, **extra: object) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": choices, **extra}
    return json.dumps(body)


USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}

# (id, data of one event, the chunk it means)
CHUNK_CASES: list[tuple[str, str, ChatChunk]] = [
    ("role-only first chunk", chunk({"role": "assistant", "content": ""}), ChatChunk()),
    ("content", chunk({"content": "Hi"}), ChatChunk(text="Hi")),
    ("empty delta", chunk({}), ChatChunk()),
    ("null content", chunk({"content": None}), ChatChunk()),
    ("no delta at all", json.dumps({"choices": [{"index": 0}]}), ChatChunk()),
    ("finish reason", chunk({}, finish="stop"), ChatChunk(finish_reason="stop")),
    ("usage: null on a content chunk", chunk({"content": "a"}, usage=None), ChatChunk(text="a")),
    ("include_usage chunk", chunk(None, usage=USAGE), ChatChunk(usage=TokenUsage(12, 5, 17))),
    (
        "usage without a total",
        chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 4}),
        ChatChunk(usage=TokenUsage(3, 4, 7)),
    ),
    (
        "usage in the finish chunk (llama.cpp)",
        chunk({}, finish="length", usage=USAGE),
        ChatChunk(finish_reason="length", usage=TokenUsage(12, 5, 17)),
    ),
    ("done", "[DONE]", ChatChunk(done=True)),
    ("done with stray spaces", " [DONE] ", ChatChunk(done=True)),
    (
        "multi-line json",
        chunk({"content": "x"}).replace(',"choices"', ',\n"choices"'),
        ChatChunk(text="x"),
    ),
]


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in CHUNK_CASES], ids=[c[0] for c in CHUNK_CASES]
)
def test_parse_chat_chunk(data: str, expected: ChatChunk) -> None:
    assert parse_chat_chunk(SSEEvent(data)) == expected


def err(message: str, kind: str | None = None, code: object = None) -> str:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


# (id, data, event field, error class, text the message must contain)
ERROR_CASES: list[tuple[str, str, str | None, type[UpstreamError], str]] = [
    ("malformed json", '{"choices": [{"delta', None, UpstreamProtocolError, "not valid JSON"),
    ("json that is not an object", "[1, 2]", None, UpstreamProtocolError, "JSON list"),
    (
        "rate limit in stream",
        err("Rate limit reached for gpt-4o-mini", "requests", "rate_limit_exceeded"),
        None,
        UpstreamRateLimited,
        "Rate limit reached",
    ),
    (
        "bad key in stream",
        err("Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
        None,
        UpstreamAuthError,
        "Incorrect API key",
    ),
    (
        "unknown model in stream",
        err("The model `nope` does not exist", "invalid_request_error", "model_not_found"),
        None,
        UpstreamNotFound,
        "`nope` does not exist",
    ),
    (
        "server error type",
        err("The server had an error", "server_error"),
        None,
        UpstreamServerError,
        "had an error",
    ),
    (
        "numeric code (OpenRouter)",
        err("Provider busy", None, 503),
        None,
        UpstreamServerError,
        "Provider busy",
    ),
    ("numeric 429 code", err("Slow down", None, 429), None, UpstreamRateLimited, "Slow down"),
    (
        "plain string error (Ollama)",
        json.dumps({"error": "model 'x' not found, try pulling it first"}),
        None,
        UpstreamProtocolError,
        "try pulling it first",
    ),
    ("unclassified error", err("something odd"), None, UpstreamProtocolError, "something odd"),
    (
        "event: error with a bare object",
        json.dumps({"type": "overloaded_error", "message": "Overloaded"}),
        "error",
        UpstreamServerError,
        "Overloaded",
    ),
]


@pytest.mark.parametrize(
    ("data", "event", "cls", "text"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_parse_chat_chunk_errors(
    data: str, event: str | None, cls: type[UpstreamError], text: str
) -> None:
    with pytest.raises(UpstreamError) as info:
        parse_chat_chunk(SSEEvent(data, event=event))
    assert type(info.value) is cls
    assert text in info.value.message


def test_upstream_error_message_is_trimmed() -> None:
    with pytest.raises(UpstreamServerError) as info:
        parse_chat_chunk(SSEEvent(err("x" * 5000, "server_error")))
    assert len(info.value.message) < MESSAGE_LIMIT + 80
    assert info.value.message.endswith("….")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, UpstreamAuthError),
        (403, UpstreamAuthError),
        (404, UpstreamNotFound),
        (429, UpstreamRateLimited),
        (500, UpstreamServerError),
        (503, UpstreamServerError),
        (400, UpstreamError),
        (None, UpstreamProtocolError),
    ],
)
def test_error_from_payload_status_wins(status: int | None, cls: type[UpstreamError]) -> None:
    error = error_from_payload(
        {"error": {"message": "nope", "type": "server_error"} if status else {"message": "nope"}},
        context="Context",
        status=status,
        hint="Hint.",
    )
    assert type(error) is cls
    assert error.message == "Context: nope. Hint."


def test_error_from_payload_keeps_retry_after() -> None:
    error = error_from_payload("", context="Slow down", status=429, retry_after=2.5)
    assert isinstance(error, UpstreamRateLimited)
    assert error.retry_after == 2.5
    assert error.message == "Slow down."
