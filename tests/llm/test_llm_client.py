"""ChatCompletionsLLM against the fake upstream over real loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from server.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from server.llm import LLMEvent, TextDelta, Usage
from server.llm.chat_completions import (
    ChatCompletionsLLM,
    parse_retry_after,
    public_url,
)
from server.log_scrub import redact
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text, refused_url

pytestmark = pytest.mark.timeout(30)

TEXT = "The quick brown fox jumps over the lazy dog. Then it naps."
CHUNKS = chunk_text(TEXT)
HISTORY = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Tell me about foxes"},
]
KEY = "sk-proj-SECRETkey0123456789abcdef"
# Cancelling must close the upstream connection within this bound (a product requirement).
DISCONNECT_BOUND = 0.1


async def collect(
    llm: ChatCompletionsLLM, messages: list[dict[str, str]] = HISTORY
) -> list[LLMEvent]:
    return [event async for event in llm.stream(messages)]


async def collect_until_error(llm: ChatCompletionsLLM) -> tuple[str, UpstreamError]:
    text: list[str] = []
    with pytest.raises(UpstreamError) as info:
        async for event in llm.stream(HISTORY):
            if isinstance(event, TextDelta):
                text.append(event.text)
    return "".join(text), info.value


def text_of(events: list[LLMEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_happy_path_streams_text_then_usage(fake: FakeLLM, llm: ChatCompletionsLLM) -> None:
    fake.enqueue(Reply(CHUNKS))
    events = await collect(llm)
    assert text_of(events) == TEXT
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta(c) for c in CHUNKS]
    # The fake counts prompt words as tokens and each chunk as one token.
    words = sum(len(m["content"].split()) for m in HISTORY)
    assert events[-1] == Usage(words, len(CHUNKS), words + len(CHUNKS))
    assert sum(isinstance(e, Usage) for e in events) == 1


async def test_request_carries_model_history_and_stream_options(
    fake: FakeLLM, llm: ChatCompletionsLLM
) -> None:
    await collect(llm)
    (request,) = fake.chat_requests
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.json == {
        "model": "test-model",
        "messages": HISTORY,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert "authorization" not in request.headers


async def test_bearer_header_when_a_key_is_set(fake: FakeLLM) -> None:
    llm = ChatCompletionsLLM(base_url=fake.base_url + "/", model="m", api_key=KEY)
    try:
        await collect(llm)
    finally:
        await llm.aclose()
    assert fake.requests[0].path == "/v1/chat/completions"
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in llm.label and KEY not in repr(llm)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "close-delimited"])
@pytest.mark.parametrize(
    "fault", [None, "crlf", "keepalive", "multiline", "empty_deltas", "no_done"]
)
async def test_stream_variants_give_the_same_text(
    fake: FakeLLM, llm: ChatCompletionsLLM, fault: str | None, chunked: bool
) -> None:
    fake.enqueue(Reply(CHUNKS, fault=fault, chunked=chunked))
    events = await collect(llm)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    # The role-only first chunk and empty deltas must not surface as empty text.
    assert [d.text for d in deltas] == CHUNKS
    assert isinstance(events[-1], Usage)


async def test_no_usage_event_when_upstream_sends_none(
    fake: FakeLLM, llm: ChatCompletionsLLM
) -> None:
    fake.enqueue(Reply(CHUNKS, usage=False))
    events = await collect(llm)
    assert text_of(events) == TEXT
    assert not any(isinstance(e, Usage) for e in events)


async def test_connection_refused() -> None:
    url = await refused_url()
    llm = ChatCompletionsLLM(base_url=url, model="m", connect_timeout=2.0)
    try:
        _, error = await collect_until_error(llm)
    finally:
        await llm.aclose()
    assert type(error) is UpstreamUnreachable
    assert url in error.message and "--llm-base-url" in error.message


async def test_url_without_scheme_is_unreachable() -> None:
    llm = ChatCompletionsLLM(base_url="localhost:11434/v1", model="m")
    try:
        _, error = await collect_until_error(llm)
    finally:
        await llm.aclose()
    assert type(error) is UpstreamUnreachable
    assert "not a valid http(s) URL" in error.message


@pytest.mark.parametrize(
    ("status", "cls", "words"),
    [
        (401, UpstreamAuthError, "rejected the request (HTTP 401)"),
        (403, UpstreamAuthError, "rejected the request (HTTP 403)"),
        (404, UpstreamNotFound, "Model 'test-model' was not found at"),
        (500, UpstreamServerError, "failed (HTTP 500)"),
        (503, UpstreamServerError, "failed (HTTP 503)"),
        (400, UpstreamError, "refused the request (HTTP 400)"),
    ],
)
async def test_http_status_errors(
    fake: FakeLLM, llm: ChatCompletionsLLM, status: int, cls: type[UpstreamError], words: str
) -> None:
    fake.enqueue(
        Reply(status=status, body='{"error": {"message": "upstream says no", "type": null}}')
    )
    _, error = await collect_until_error(llm)
    assert type(error) is cls
    assert words in error.message
    assert "upstream says no" in error.message
    assert fake.base_url in error.message


async def test_auth_error_says_when_no_key_is_set(fake: FakeLLM, llm: ChatCompletionsLLM) -> None:
    fake.enqueue(Reply(status=401, body=""))
    _, error = await collect_until_error(llm)
    assert "No API key is set" in error.message


async def test_plain_text_error_body(fake: FakeLLM, llm: ChatCompletionsLLM) -> None:
    fake.enqueue(Reply(status=502, body="<html><body>Bad   gateway</body></html>"))
    _, error = await collect_until_error(llm)
    assert type(error) is UpstreamServerError
    assert "Bad gateway" in error.message


async def test_rate_limited_with_retry_after_seconds(
    fake: FakeLLM, llm: ChatCompletionsLLM
) -> None:
    fake.enqueue(
        Reply(status=429, body='{"error": {"message": "Too many"}}', headers={"Retry-After": "7"})
    )
    _, error = await collect_until_error(llm)
    assert isinstance(error, UpstreamRateLimited)
    assert error.retry_after == 7.0
    assert "Too many" in error.message and "Retry in 7 s" in error.message


async def test_rate_limited_with_retry_after_http_date(
    fake: FakeLLM, llm: ChatCompletionsLLM
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    fake.enqueue(Reply(status=429, body="", headers={"Retry-After": when}))
    _, error = await collect_until_error(llm)
    assert isinstance(error, UpstreamRateLimited)
    assert error.retry_after is not None and 20 <= error.retry_after <= 31


@pytest.mark.parametrize(
    ("ms", "value", "expected"),
    [
        (None, "12", 12.0),
        (None, "0.5", 0.5),
        (None, "-3", 0.0),
        ("1500", "12", 1.5),
        (None, "Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        (None, "Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        (None, "soon", None),
        (None, "", None),
        (None, None, None),
        ("nan", "inf", None),
    ],
)
def test_parse_retry_after(ms: str | None, value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(ms, value, now=now) == expected


async def test_redirect_names_the_new_address(fake: FakeLLM, llm: ChatCompletionsLLM) -> None:
    fake.enqueue(Reply(status=308, body="", headers={"Location": "https://example.test/v1"}))
    _, error = await collect_until_error(llm)
    assert "redirects to https://example.test/v1" in error.message


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "close-delimited"])
async def test_cut_midway_keeps_the_partial_text(
    fake: FakeLLM, llm: ChatCompletionsLLM, chunked: bool
) -> None:
    fake.enqueue(Reply(CHUNKS, fault="cut", cut_after=3, chunked=chunked))
    text, error = await collect_until_error(llm)
    assert text == "".join(CHUNKS[:3])
    assert type(error) is UpstreamProtocolError
    assert f"the stream was cut after {len(text)} characters" in error.message


async def test_body_ending_without_done_or_finish_is_a_cut(
    fake: FakeLLM, llm: ChatCompletionsLLM
) -> None:
    fake.enqueue(Reply(CHUNKS, fault="no_finish"))
    text, error = await collect_until_error(llm)
    assert text == TEXT
    assert type(error) is UpstreamProtocolError
    assert "without [DONE]" in error.message


async def test_stall_past_the_read_timeout(fake: FakeLLM) -> None:
    llm = ChatCompletionsLLM(base_url=fake.base_url, model="m", read_timeout=0.3)
    fake.enqueue(Reply(CHUNKS, fault="stall", cut_after=2))
    started = time.perf_counter()
    try:
        text, error = await collect_until_error(llm)
    finally:
        await llm.aclose()
    assert time.perf_counter() - started < 5
    assert text == "".join(CHUNKS[:2])
    assert type(error) is UpstreamTimeout
    assert f"after {len(text)} characters" in error.message
    # Giving up must also hang up, so the upstream stops generating.
    await fake.wait_disconnect(1.0)


async def test_no_headers_within_the_read_timeout(fake: FakeLLM) -> None:
    llm = ChatCompletionsLLM(base_url=fake.base_url, model="m", read_timeout=0.3)
    fake.enqueue(Reply(fault="hang"))
    try:
        _, error = await collect_until_error(llm)
    finally:
        await llm.aclose()
    assert type(error) is UpstreamTimeout
    assert "before answering" in error.message


async def test_malformed_data_line(fake: FakeLLM, llm: ChatCompletionsLLM) -> None:
    fake.enqueue(Reply(CHUNKS, fault="malformed", cut_after=2))
    text, error = await collect_until_error(llm)
    assert text == "".join(CHUNKS[:2])
    assert type(error) is UpstreamProtocolError
    assert "not valid JSON" in error.message


async def test_error_object_inside_the_stream(fake: FakeLLM, llm: ChatCompletionsLLM) -> None:
    body = '{"error": {"message": "Model overloaded, retry", "type": "server_error", "code": null}}'
    fake.enqueue(Reply(CHUNKS, fault="error_in_stream", cut_after=4, body=body))
    text, error = await collect_until_error(llm)
    assert text == "".join(CHUNKS[:4])
    assert type(error) is UpstreamServerError
    assert "Model overloaded, retry" in error.message


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        (
            '{"error": {"message": "Upstream overloaded", "type": "server_error"}}',
            UpstreamServerError,
        ),
        (
            '{"error": {"message": "Upstream bad key", "code": "invalid_api_key"}}',
            UpstreamAuthError,
        ),
        ('{"error": {"message": "Upstream said no", "code": 404}}', UpstreamNotFound),
        ('{"error": "Upstream plain error"}', UpstreamProtocolError),
        ('{"detail": "Upstream odd"}', UpstreamProtocolError),
    ],
)
async def test_json_error_body_with_status_200(
    fake: FakeLLM, llm: ChatCompletionsLLM, body: str, cls: type[UpstreamError]
) -> None:
    fake.enqueue(Reply(status=200, body=body))
    _, error = await collect_until_error(llm)
    assert type(error) is cls
    assert "Upstream" in error.message


async def test_whole_completion_instead_of_a_stream(fake: FakeLLM, llm: ChatCompletionsLLM) -> None:
    body = (
        '{"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", '
        '"content": "All at once."}, "finish_reason": "stop"}], '
        '"usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}'
    )
    fake.enqueue(Reply(status=200, body=body))
    assert await collect(llm) == [TextDelta("All at once."), Usage(3, 4, 7)]


async def test_error_messages_never_carry_the_key(fake: FakeLLM) -> None:
    llm = ChatCompletionsLLM(base_url=fake.base_url, model="m", api_key=KEY)
    echoed = KEY[:12] + "*" * 10 + KEY[-4:]
    fake.enqueue(
        Reply(
            status=401,
            body=f'{{"error": {{"message": "Incorrect API key provided: {echoed}. Key {KEY}"}}}}',
        ),
        Reply(
            CHUNKS,
            fault="error_in_stream",
            cut_after=1,
            body=f'{{"error": {{"message": "bad {KEY}"}}}}',
        ),
        Reply(status=500, body=f"key={KEY}" + "x" * 400 + KEY),
    )
    try:
        errors = [(await collect_until_error(llm))[1] for _ in range(3)]
    finally:
        await llm.aclose()
    assert [type(e) for e in errors] == [
        UpstreamAuthError,
        UpstreamProtocolError,
        UpstreamServerError,
    ]
    for error in errors:
        assert "[redacted]" in error.message
        for leak in (KEY, echoed, KEY[:10], KEY[-12:]):
            assert leak not in error.message and leak not in str(error)


async def test_key_in_the_url_stays_out_of_label_and_errors() -> None:
    url = await refused_url()
    with_user = url.replace("http://", f"http://user:{KEY}@")
    llm = ChatCompletionsLLM(base_url=with_user, model="m", connect_timeout=2.0)
    try:
        _, error = await collect_until_error(llm)
    finally:
        await llm.aclose()
    assert KEY not in llm.label and KEY not in error.message
    assert url in error.message


def test_redact_and_public_url() -> None:
    assert redact(f"a {KEY} b", KEY) == "a [redacted] b"
    assert redact(f"a {KEY[:14]}***xyz b", KEY) == "a [redacted] b"
    assert redact("nothing here", None) == "nothing here"
    assert public_url("http://u:p@host:1/v1") == "http://host:1/v1"
    assert public_url("http://host/v1") == "http://host/v1"


async def test_client_reuses_its_connection(fake: FakeLLM, llm: ChatCompletionsLLM) -> None:
    for _ in range(3):
        fake.enqueue(Reply(CHUNKS))
        assert text_of(await collect(llm)) == TEXT
    assert {r.connection for r in fake.chat_requests} == {fake.chat_requests[0].connection}
    assert len(fake.chat_requests) == 3


async def test_cancelling_the_task_closes_the_connection_at_once(
    fake: FakeLLM, llm: ChatCompletionsLLM
) -> None:
    fake.enqueue(Reply(CHUNKS, delay=0.2))
    second_delta = asyncio.Event()

    async def consume() -> None:
        received = 0
        async for event in llm.stream(HISTORY):
            received += isinstance(event, TextDelta)
            if received == 2:
                second_delta.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await second_delta.wait()
    cancelled_at = time.perf_counter()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()
    hung_up = await fake.wait_disconnect(1.0)
    assert 0 <= hung_up - cancelled_at < DISCONNECT_BOUND
    assert len(fake.chunk_sent_at) < len(CHUNKS)


async def test_closing_the_stream_closes_the_connection_at_once(
    fake: FakeLLM, llm: ChatCompletionsLLM
) -> None:
    fake.enqueue(Reply(CHUNKS, delay=0.2))
    stream = llm.stream(HISTORY)
    assert await anext(stream) == TextDelta(CHUNKS[0])
    closed_at = time.perf_counter()
    await stream.aclose()
    hung_up = await fake.wait_disconnect(1.0)
    assert 0 <= hung_up - closed_at < DISCONNECT_BOUND


async def test_leaving_an_aclosing_block_closes_the_connection(
    fake: FakeLLM, llm: ChatCompletionsLLM
) -> None:
    fake.enqueue(Reply(CHUNKS, delay=0.2))
    async with contextlib.aclosing(llm.stream(HISTORY)) as stream:
        async for _ in stream:
            left_at = time.perf_counter()
            break
    hung_up = await fake.wait_disconnect(1.0)
    assert 0 <= hung_up - left_at < DISCONNECT_BOUND


async def test_a_cancelled_connection_is_not_reused(fake: FakeLLM, llm: ChatCompletionsLLM) -> None:
    fake.enqueue(Reply(CHUNKS, delay=0.2), Reply(CHUNKS))
    stream = llm.stream(HISTORY)
    await anext(stream)
    await stream.aclose()
    assert text_of(await collect(llm)) == TEXT
    first, second = fake.chat_requests
    assert first.connection != second.connection
