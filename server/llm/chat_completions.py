"""The OpenAI-compatible Chat Completions client (OpenAI, Ollama, llama.cpp, vLLM...).

Closing the stream (``aclose()`` on the generator, or cancelling the task that
awaits it) aborts the reply at once: the HTTP connection is closed, never handed
back to the pool half-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import math
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeVar, cast

import httpx

from server.errors import (
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from server.llm import LLMEvent, LLMProvider, Message
from server.llm.discovery import context_window, list_models
from server.llm.reply import ReplyReader
from server.llm.sse import error_from_payload, trim
from server.llm.window_probe import WindowProbes
from server.log_scrub import redact
from server.protocol import utf8_safe
from server.upstream_pool import PoolShards

_WRITE_TIMEOUT: Final = 10.0
_ERROR_BODY_DEADLINE: Final = 5.0
"""Seconds an error body may take (a trickling one says what it said by then)."""
# Long enough for the chunked-body terminator that follows "[DONE]".
_DRAIN_TIMEOUT: Final = 0.5
_ERROR_BODY_LIMIT: Final = 16_384
# Transport failures that mean the upstream went away mid-exchange.
_CUT: Final = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
T = TypeVar("T")


class ChatCompletionsLLM(LLMProvider):
    """Streams replies from any OpenAI-compatible ``/chat/completions`` endpoint."""

    name = "chat_completions"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        label: str | None = None,
        max_connections: int = 1000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key or None
        self._read_timeout = read_timeout
        self._url = f"{self.base_url}/chat/completions"
        self._shown_url = public_url(self.base_url)
        self.label = redact(label or f"{model} at {self._shown_url}", self._api_key)
        headers = {
            "Accept": "text/event-stream",
            # A compressing proxy would buffer the stream to compress it.
            "Accept-Encoding": "identity",
        }
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=_WRITE_TIMEOUT, pool=connect_timeout
        )
        # httpx allows 100 connections by default; every session streams at once, so a
        # busy server queued requests behind that limit and failed them (docs/reliability.md);
        # in pools of 64, whose bookkeeping stays cheap (server/upstream_pool.py).
        self._pools = PoolShards(
            lambda limits, tls: httpx.AsyncClient(
                headers=headers, timeout=timeout, limits=limits, verify=tls
            ),
            max_connections,
        )
        self._client = self._pools.first
        self._max_connections = max_connections
        self._cap_field = cap_field(self.base_url)
        self._windows = WindowProbes(lambda name: context_window(self._client, self.base_url, name))

    def __repr__(self) -> str:
        return f"ChatCompletionsLLM({self.label!r})"

    async def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        max_output_tokens: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[LLMEvent, None]:
        """Stream one reply as TextDelta / ToolCallDelta events, then Usage if reported."""
        body: dict[str, Any] = {
            **(options or {}),
            "model": model or self.model,
            # A client may send lone surrogates (valid JSON); the upstream takes UTF-8 only.
            "messages": [
                {k: utf8_safe(v) if isinstance(v, str) else v for k, v in m.items()}
                for m in messages
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if max_output_tokens is not None:
            body[self._cap_field] = max_output_tokens
        reader = ReplyReader(self._shown_url)
        answered = False
        try:
            async with contextlib.AsyncExitStack() as stack:
                response = await self._open(stack, body)
                answered = True
                await self._raise_for_status(response)
                self._refuse_encoding(response)
                async with contextlib.aclosing(_generator(response.aiter_text())) as pieces:
                    async for piece in pieces:
                        for event in reader.feed_text(piece):
                            yield event
                        if reader.done:
                            await _drain(pieces)
                            break
                for event in reader.end():
                    yield event
        except UpstreamError as exc:
            self._redacted(exc)
            raise
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            if reader.finished and isinstance(exc, _CUT):
                return  # The text is complete; only the usage chunk was lost.
            raise self._redacted(self._translate(exc, answered, reader.received)) from exc

    async def _open(self, stack: contextlib.AsyncExitStack, body: dict[str, Any]) -> httpx.Response:
        """Send the request; once more on a fresh connection if a pooled one was dead."""
        try:
            return await stack.enter_async_context(self._pools.stream("POST", self._url, json=body))
        except _CUT:
            # A keep-alive connection the server closed meanwhile (llama-cpp-python closes
            # it after a failed stream): nothing was answered, so asking again is safe.
            return await stack.enter_async_context(self._pools.stream("POST", self._url, json=body))

    async def models(self) -> list[str] | None:
        """The model ids the endpoint lists at ``/models``."""
        return await list_models(self._client, self.base_url)

    async def context_window(self, model: str) -> int | None:
        """The context size the endpoint states for ``model``: probed once per model in the
        background; None while the probe runs (``server.llm.window_probe``)."""
        return await self._windows.window(model)

    async def aclose(self) -> None:
        """Stop probes, close the connection pool."""
        await self._windows.aclose()
        await self._pools.aclose()

    def _refuse_encoding(self, response: httpx.Response) -> None:
        """Refuse a compressed body: we ask for identity, and inflating has no limit."""
        encoding = _encoding(response)
        if encoding:
            raise UpstreamProtocolError(
                f"The LLM endpoint at {self._shown_url} sent its answer compressed "
                f"({trim(encoding, 40)}) although the request asked for no compression; "
                "it was not unpacked."
            )

    async def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status <= 299:
            return
        # A compressed error body is not unpacked (a small one may inflate to gigabytes).
        text = "" if _encoding(response) else await _read_limited(response)
        try:
            payload: object = json.loads(text)
        except ValueError:
            payload = text
        context, hint = self._status_context(status, response.headers.get("location"))
        retry_after = parse_retry_after(
            response.headers.get("retry-after-ms"), response.headers.get("retry-after")
        )
        if retry_after is not None and status == 429:
            hint = f"Retry in {math.ceil(retry_after)} s."
        raise error_from_payload(
            payload, context=context, status=status, retry_after=retry_after, hint=hint
        )

    def _status_context(self, status: int, location: str | None) -> tuple[str, str]:
        at, code = f"at {self._shown_url}", f"(HTTP {status})"
        if status in (401, 403):
            hint = (
                "Check TALKTERM_LLM_API_KEY or OPENAI_API_KEY."
                if self._api_key
                else "No API key is set: set TALKTERM_LLM_API_KEY or OPENAI_API_KEY."
            )
            return f"The LLM endpoint {at} rejected the request {code}", hint
        if status == 404:
            hint = "Check --llm-model and --llm-base-url."
            return f"Model '{self.model}' was not found {at} {code}", hint
        if status == 429:
            return f"The LLM endpoint {at} is rate limiting requests {code}", ""
        if 300 <= status <= 399:
            target = public_url(location) if location else "another address"
            return (
                f"The LLM endpoint {at} redirects to {target} {code}",
                "Use that as the base URL.",
            )
        if status >= 500:
            return f"The LLM endpoint {at} failed {code}", ""
        return f"The LLM endpoint {at} refused the request {code}", ""

    def _translate(
        self, exc: httpx.HTTPError | httpx.InvalidURL, answered: bool, received: int
    ) -> UpstreamError:
        where = self._shown_url
        if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
            return UpstreamUnreachable(f"The LLM base URL {where!r} is not a valid http(s) URL.")
        if isinstance(exc, httpx.PoolTimeout):
            return UpstreamUnreachable(
                f"The server is at its limit of {self._max_connections} simultaneous LLM "
                "streams; try again in a moment."
            )
        if isinstance(exc, httpx.ConnectTimeout):
            return UpstreamUnreachable(f"The LLM endpoint at {where} did not accept a connection.")
        if isinstance(exc, httpx.ConnectError):
            return UpstreamUnreachable(
                f"Cannot reach the LLM endpoint at {where} ({exc or 'connect failed'})."
                " Is the server running, and is --llm-base-url right?"
            )
        if isinstance(exc, httpx.TimeoutException):
            when = f"after {received} characters" if received else "before answering"
            return UpstreamTimeout(
                f"The LLM endpoint at {where} went silent for {self._read_timeout:g} s {when}"
                " (read timeout)."
            )
        if isinstance(exc, _CUT) and not answered:
            return UpstreamProtocolError(
                f"The LLM endpoint at {where} closed the connection without answering."
            )
        if isinstance(exc, _CUT):
            return UpstreamProtocolError(
                f"The LLM endpoint at {where} dropped the connection mid-reply; "
                f"the stream was cut after {received} characters.",
                cut_after=received,
            )
        return UpstreamProtocolError(f"The request to {where} failed: {exc}.")

    def _redacted(self, exc: UpstreamError) -> UpstreamError:
        exc.message = redact(exc.message, self._api_key)
        exc.args = (exc.message,)
        return exc


def _encoding(response: httpx.Response) -> str:
    """The body's Content-Encoding when it is anything but identity, else ""."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    return "" if encoding in ("", "identity") else encoding


def _generator(iterator: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """httpx's ``aiter_*`` are async generators typed loosely; ``aclosing`` needs ``aclose``."""
    return cast("AsyncGenerator[T, None]", iterator)


async def _drain(lines: AsyncIterator[str]) -> None:
    # Reading the body's end lets the connection go back to the pool; a
    # server that lingers after [DONE] only costs its connection.
    with contextlib.suppress(TimeoutError, httpx.HTTPError):
        async with asyncio.timeout(_DRAIN_TIMEOUT):
            async for _ in lines:
                pass


async def _read_limited(response: httpx.Response) -> str:
    """An error body: its first bytes, as many as arrive within the deadline."""
    body = bytearray()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_ERROR_BODY_DEADLINE):
            async with contextlib.aclosing(_generator(response.aiter_bytes())) as pieces:
                async for piece in pieces:
                    body += piece
                    if len(body) >= _ERROR_BODY_LIMIT:
                        break
    return body.decode(response.encoding or "utf-8", errors="replace")


def parse_retry_after(
    ms: str | None, value: str | None, *, now: datetime | None = None
) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    with contextlib.suppress(TypeError, ValueError):
        seconds = float(ms) / 1000  # type: ignore[arg-type]
        if math.isfinite(seconds):
            return max(0.0, seconds)
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def cap_field(base_url: str) -> str:
    """The request field that caps the answer's tokens at this endpoint.

    OpenAI's own endpoint deprecated ``max_tokens`` and refuses it for its reasoning
    models, asking for ``max_completion_tokens``; llama.cpp, llama-cpp-python, Ollama
    and most other compatible servers know only ``max_tokens``.
    """
    try:
        host = httpx.URL(base_url).host
    except httpx.InvalidURL:
        return "max_tokens"
    return "max_completion_tokens" if host == "api.openai.com" else "max_tokens"


def public_url(url: str) -> str:
    """``url`` without user:password, so it can be shown and logged."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return url
    return str(parsed.copy_with(userinfo=b"")) if parsed.userinfo else url
