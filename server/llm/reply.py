"""One streamed reply, read: body lines in, LLM events out, and how the reply ended.

Pure bookkeeping with no I/O, so the HTTP client (``chat_completions``) only moves
bytes. It also takes a plain JSON body from a server that ignores ``"stream": true``.
"""

from __future__ import annotations

from typing import Final

from server.errors import UpstreamProtocolError
from server.llm import Finished, LLMEvent, TextDelta, ToolCallDelta, Usage
from server.llm.sse import (
    LineSplitter,
    SSEDecoder,
    SSEEvent,
    error_from_payload,
    load_json,
    parse_chat_chunk,
    parse_usage,
    tool_call_piece,
    trim,
)

# Largest text delta passed on: one 10 MB upstream chunk became one 10 MB WebSocket frame,
# ten times what a default websockets client accepts (1 MiB); 64 Ki characters stay
# under that even when every one is JSON-escaped.
MAX_DELTA_CHARS: Final = 65_536


class ReplyReader:
    """Bookkeeping for one reply: lines in, LLM events out, and how it ended."""

    def __init__(self, where: str) -> None:
        self._where = where
        self._decoder = SSEDecoder()
        self._lines = LineSplitter()
        self._json_lines: list[str] | None = None
        self._usage: Usage | None = None
        self._started = False
        self.received = 0
        self.finished = False
        self.done = False

    def feed_text(self, text: str) -> list[LLMEvent]:
        """Take a piece of the body (lines split anywhere); return the text it carries."""
        events: list[LLMEvent] = []
        for line in self._lines.feed(text):
            events += self.feed_line(line)
            if self.done:
                break  # what follows [DONE] is drained unread
        return events

    def feed_line(self, line: str) -> list[LLMEvent]:
        """Take one body line; return the text it carries."""
        if self._json_lines is not None:
            self._json_lines.append(line)
            return []
        if not self._started and line.strip():
            self._started = True
            # Some servers answer a streaming request with a plain JSON body.
            if line.lstrip().startswith("{"):
                self._json_lines = [line]
                return []
        event = self._decoder.feed_line(line)
        return self._handle(event) if event else []

    def end(self) -> list[LLMEvent]:
        """The body ended: return the last events, or raise if the reply was cut."""
        tail = self._lines.close()
        last = self.feed_line(tail) if tail and not self.done else []
        if self._json_lines is not None:
            return self._from_json_body("\n".join(self._json_lines))
        events = last
        if not self.done and (event := self._decoder.close()):
            events = [*events, *self._handle(event)]
        if not (self.done or self.finished):
            raise UpstreamProtocolError(
                f"The LLM stream from {self._where} ended without [DONE] or a finish reason; "
                f"the stream was cut after {self.received} characters.",
                cut_after=self.received,
            )
        return [*events, self._usage] if self._usage else events

    def _handle(self, event: SSEEvent) -> list[LLMEvent]:
        chunk = parse_chat_chunk(event)
        self.done = chunk.done
        self.finished = self.finished or chunk.finish_reason is not None
        if chunk.usage:
            u = chunk.usage
            self._usage = Usage(u.prompt_tokens, u.completion_tokens, u.total_tokens)
        events: list[LLMEvent] = []
        if chunk.text:
            self.received += len(chunk.text)
            events.extend(TextDelta(piece) for piece in text_pieces(chunk.text))
        for call in chunk.tool_calls:
            self.received += len(call.arguments)
            events.append(call)
        # "tool_calls" is a natural end too: the answer is the calls.
        if chunk.finish_reason not in (None, "stop", "tool_calls"):
            events.append(Finished(str(chunk.finish_reason)))
        return events

    def _from_json_body(self, text: str) -> list[LLMEvent]:
        try:
            payload = load_json(text)
        except (ValueError, RecursionError):
            payload = text
        if isinstance(payload, dict) and "error" in payload:
            raise error_from_payload(
                payload,
                context=f"The LLM endpoint at {self._where} answered with an error instead of a "
                "stream",
            )
        content = message_content(payload)
        calls = _message_tool_calls(payload)
        if content is None and calls:
            content = ""
        if content is None:
            raise UpstreamProtocolError(
                f"The LLM endpoint at {self._where} answered with JSON instead of a stream: "
                f"{trim(text, 120)}"
            )
        # A server that ignores "stream": true still gave a whole reply.
        self.finished = True
        self.received = len(content)
        usage = parse_usage(payload.get("usage")) if isinstance(payload, dict) else None
        events: list[LLMEvent] = [TextDelta(piece) for piece in text_pieces(content)]
        events += calls
        if usage:
            events.append(Usage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens))
        return events


def text_pieces(text: str, limit: int = MAX_DELTA_CHARS) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` characters, never inside a surrogate pair."""
    pieces = []
    start = 0
    while len(text) - start > limit:
        end = start + limit
        if "\ud800" <= text[end - 1] <= "\udbff" and "\udc00" <= text[end] <= "\udfff":
            end -= 1  # a lone surrogate pair from JSON escapes stays together
        pieces.append(text[start:end])
        start = end
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _message_tool_calls(payload: object) -> list[ToolCallDelta]:
    """The tool calls of a whole (non-streamed) Chat Completions body."""
    if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
        return []
    choices = payload["choices"]
    message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    if not isinstance(calls, list):
        return []
    return [tool_call_piece(call, n) for n, call in enumerate(calls)]


def message_content(payload: object) -> str | None:
    """The reply text of a whole (non-streamed) Chat Completions body, if it has one."""
    if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
        return None
    choices = payload["choices"]
    message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else None
