"""Server-sent events as OpenAI-compatible Chat Completions endpoints stream them.

Two layers, both pure (no I/O), so they are tested without a network:

* ``SSEDecoder`` turns lines or raw text into ``SSEEvent`` objects, following
  the WHATWG rules: CR, LF or CRLF line ends; ``:`` comment (keepalive)
  lines; ``data:`` lines joined with "\\n"; ``event:``, ``id:``, ``retry:``.
* ``parse_chat_chunk`` turns one event into a ``ChatChunk`` (text, finish
  reason, usage, ``[DONE]``), raising an ``UpstreamError`` subclass for
  malformed JSON or an ``{"error": ...}`` object sent inside the stream.

``error_from_payload`` maps an OpenAI-style error object to the matching
error class (a conversation too long for the model's context is
``ContextOverflow``); the HTTP client uses it for error bodies too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from server.errors import (
    ContextOverflow,
    UpstreamAuthError,
    UpstreamError,
    UpstreamNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamServerError,
)
from server.llm import ToolCallDelta
from server.llm.context import is_overflow, overflow_window

DONE: Final = "[DONE]"
MESSAGE_LIMIT: Final = 300
# Token counts fit in far fewer digits; int() of thousands of digits is slow, and
# beyond 4300 digits Python refuses (ValueError) instead of parsing.
_MAX_INT_DIGITS: Final = 64

# OpenAI, Anthropic-style and vLLM/LiteLLM spellings of error types and codes.
_ERROR_KINDS: Final[dict[str, type[UpstreamError]]] = {
    "invalid_api_key": UpstreamAuthError,
    "authentication_error": UpstreamAuthError,
    "permission_error": UpstreamAuthError,
    "insufficient_quota": UpstreamRateLimited,
    "rate_limit_exceeded": UpstreamRateLimited,
    "rate_limit_error": UpstreamRateLimited,
    "model_not_found": UpstreamNotFound,
    "not_found_error": UpstreamNotFound,
    "server_error": UpstreamServerError,
    "overloaded_error": UpstreamServerError,
    "api_error": UpstreamServerError,
}


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched server-sent event."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


class LineSplitter:
    """Cuts text into lines at CR, LF or CRLF only, however it is chunked, in linear time.

    The partial line is kept as a list of pieces: re-joining it for every piece made one
    long line sent in small pieces quadratic. (httpx's ``aiter_lines`` also splits at
    U+2028 and other characters JSON strings may hold raw.)
    """

    def __init__(self) -> None:
        self._partial: list[str] = []
        self._cr = False  # the last piece ended in CR: a line ended, unless LF follows

    def feed(self, text: str) -> list[str]:
        """Take a piece of text; return the lines it completed, without terminators."""
        if self._cr:
            self._cr = False
            text = text.removeprefix("\n")  # the LF of a CRLF split across pieces
        if not text:
            return []
        self._cr = text.endswith("\r")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        if len(lines) == 1:
            self._partial.append(lines[0])
            return []
        if self._partial:
            lines[0] = "".join([*self._partial, lines[0]])
        tail = lines.pop()
        self._partial = [tail] if tail else []
        return lines

    def close(self) -> str:
        """End of text: the unterminated last line ("" if none)."""
        tail = "".join(self._partial)
        self._partial = []
        self._cr = False
        return tail


class SSEDecoder:
    """Incremental SSE decoder: feed lines or text, collect finished events."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._lines = LineSplitter()
        self._started = False

    def feed_line(self, line: str) -> SSEEvent | None:
        """Take one line without its terminator; return an event when a blank line ends one."""
        if not self._started:
            self._started = True
            line = line.removeprefix("\ufeff")
        # Callers that split only on "\n" leave the CR of a CRLF behind.
        line = line.removesuffix("\r")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def feed(self, text: str) -> list[SSEEvent]:
        """Take any piece of raw text (lines may be split anywhere); return finished events."""
        lines = self._lines.feed(text)
        return [event for line in lines if (event := self.feed_line(line)) is not None]

    def close(self) -> SSEEvent | None:
        """End of stream: return a last event that had no blank line after it, if any."""
        tail = self._lines.close()
        if tail:
            self.feed_line(tail)
        # The spec drops an unterminated event; servers that omit the final
        # blank line after "data: [DONE]" are common enough to be lenient.
        return self._dispatch()

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = None
            return None
        event = SSEEvent("\n".join(self._data), self._event, self._id, self._retry)
        self._data = []
        self._event = None
        return event


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts as the Chat Completions ``usage`` object names them."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """What one Chat Completions stream event says."""

    text: str = ""
    finish_reason: str | None = None
    usage: TokenUsage | None = None
    done: bool = False
    tool_calls: tuple[ToolCallDelta, ...] = ()


def parse_chat_chunk(event: SSEEvent) -> ChatChunk:
    """Interpret one event of a Chat Completions stream; raises UpstreamError on errors."""
    data = event.data.strip()
    if data == DONE:
        return ChatChunk(done=True)
    payload = _load_json(data)
    if not isinstance(payload, dict):
        raise UpstreamProtocolError(
            f"The LLM stream sent a JSON {type(payload).__name__} where a chunk object "
            f"belongs: {trim(data, 80)!r}."
        )
    if "error" in payload or event.event == "error":
        raise error_from_payload(payload, context="The LLM endpoint reported an error mid-stream")
    text, finish_reason = _first_choice(payload.get("choices"))
    return ChatChunk(
        text=text,
        finish_reason=finish_reason,
        usage=parse_usage(payload.get("usage")),
        tool_calls=_tool_calls(payload.get("choices")),
    )


def _tool_calls(choices: object) -> tuple[ToolCallDelta, ...]:
    """The ``delta.tool_calls`` pieces of the first choice (OpenAI's streamed shape)."""
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ()
    delta = choices[0].get("delta")
    calls = delta.get("tool_calls") if isinstance(delta, dict) else None
    return tuple(tool_call_piece(call, n) for n, call in enumerate(calls or []))


def tool_call_piece(call: object, position: int) -> ToolCallDelta:
    """One tool call (or a piece of it), streamed or whole; malformed parts are left out."""
    if not isinstance(call, dict):
        raise UpstreamProtocolError(f"The LLM sent a tool call that is not an object: {call!r}.")
    index = call.get("index", position)
    raw = call.get("function")
    function: dict[str, Any] = raw if isinstance(raw, dict) else {}
    name, arguments, call_id = function.get("name"), function.get("arguments"), call.get("id")
    return ToolCallDelta(
        index=index if isinstance(index, int) and not isinstance(index, bool) else position,
        call_id=call_id if isinstance(call_id, str) and call_id else None,
        name=name if isinstance(name, str) and name else None,
        arguments=arguments if isinstance(arguments, str) else "",
    )


def error_from_payload(
    payload: object,
    *,
    context: str,
    status: int | None = None,
    retry_after: float | None = None,
    hint: str = "",
) -> UpstreamError:
    """Build the error that an OpenAI-style error object (or HTTP status) stands for."""
    message, kind, code = _error_fields(payload)
    if isinstance(code, int) and status is None:
        status = code
    cls = error_class(status)
    for name in (code, kind):
        if isinstance(name, str) and name in _ERROR_KINDS and cls is UpstreamProtocolError:
            cls = _ERROR_KINDS[name]
    text = f"{context}: {trim(message).rstrip('.')}." if message else f"{context}."
    if is_overflow(message, kind, code):
        return ContextOverflow(text, window=overflow_window(message, payload))
    if hint:
        text = f"{text} {hint}"
    if cls is UpstreamRateLimited:
        return UpstreamRateLimited(text, retry_after=retry_after)
    return cls(text)


def error_class(status: int | None) -> type[UpstreamError]:
    """The error class for an HTTP status; UpstreamProtocolError when it says nothing."""
    if status in (401, 403):
        return UpstreamAuthError
    if status == 404:
        return UpstreamNotFound
    if status == 429:
        return UpstreamRateLimited
    if status is not None and 500 <= status <= 599:
        return UpstreamServerError
    if status is not None and 400 <= status <= 499:
        return UpstreamError
    return UpstreamProtocolError


def trim(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Collapse whitespace and cut ``text`` to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def load_json(data: str) -> Any:
    """``json.loads`` that refuses absurdly long integers (ValueError, like bad JSON)."""
    return json.loads(data, parse_int=_bounded_int)


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"a number of {len(digits)} digits")
    return int(digits)


def _load_json(data: str) -> Any:
    try:
        return load_json(data)
    except (ValueError, RecursionError) as exc:
        raise UpstreamProtocolError(
            f"The LLM stream sent a data line that is not valid JSON ({exc}): {trim(data, 80)!r}."
        ) from None


def _first_choice(choices: object) -> tuple[str, str | None]:
    # The usage chunk has "choices": []; we ask for one choice, so index 0 is ours.
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "", None
    choice = choices[0]
    delta = choice.get("delta")
    content = delta.get("content") if isinstance(delta, dict) else None
    reason = choice.get("finish_reason")
    return (
        content if isinstance(content, str) else "",
        reason if isinstance(reason, str) else None,
    )


def parse_usage(raw: object) -> TokenUsage | None:
    """Read a ``usage`` object; None when there is none."""
    if not isinstance(raw, dict):
        return None
    prompt = _count(raw.get("prompt_tokens"))
    completion = _count(raw.get("completion_tokens"))
    total = _count(raw.get("total_tokens")) or prompt + completion
    return TokenUsage(prompt, completion, total)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _error_fields(payload: object) -> tuple[str, str | None, str | int | None]:
    """Message, type and code of an error object in any of the shapes servers use."""
    if isinstance(payload, str):
        return payload, None, None
    if not isinstance(payload, dict):
        return "", None, None
    error = payload.get("error", payload)
    if isinstance(error, str):
        # Ollama and some proxies send {"error": "model 'x' not found"}.
        return error, None, None
    if not isinstance(error, dict):
        return "", None, None
    message = error.get("message") or error.get("detail") or ""
    kind = error.get("type")
    code = error.get("code")
    return (
        message if isinstance(message, str) else json.dumps(message),
        kind if isinstance(kind, str) else None,
        code if isinstance(code, str | int) and not isinstance(code, bool) else None,
    )
