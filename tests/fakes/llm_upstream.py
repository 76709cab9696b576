"""A fake OpenAI-compatible LLM upstream: a real HTTP/1.1 server on 127.0.0.1.

It is written on ``asyncio.start_server`` so every byte on the wire is ours
to shape: the exact Chat Completions SSE stream (role chunk, content chunks,
finish chunk, usage chunk, ``[DONE]``), chunked or close-delimited bodies,
and faults a real upstream produces (cut connections, stalls, broken lines,
errors inside the stream). It also answers the probes that ``resolve_llm``
sends (``/v1/models``, ``/api/tags``, ``/health``), states a context size where
llama.cpp (``GET /props``) or Ollama (``POST /api/show``) do, can refuse a prompt
longer than its ``window`` as OpenAI, llama.cpp or llama-cpp-python word it, and
records what clients sent and when they hung up. It counts a word as a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Final, Self

from tests.fakes.context_limits import overflow_body, prompt_tokens

DEFAULT_TEXT: Final = "Hello there. This is the fake upstream."
FAULTS: Final = frozenset(
    {
        "cut",  # close the socket after cut_after chunks, no [DONE]
        "stall",  # stop sending after cut_after chunks, keep the socket open
        "hang",  # read the request, never answer (not even headers)
        "malformed",  # a broken data: line after cut_after chunks
        "error_in_stream",  # an {"error": ...} event after cut_after chunks
        "crlf",  # CRLF line endings
        "keepalive",  # ": ping" comment lines between events
        "multiline",  # every event split over two data: lines
        "empty_deltas",  # {} and {"content": null} deltas between chunks
        "no_done",  # finish_reason sent, [DONE] left out
        "no_finish",  # the body ends cleanly with neither finish_reason nor [DONE]
        "huge_usage",  # usage counts of HUGE_DIGITS digits
        "gzip",  # the whole body gzip-compressed (content-encoding: gzip), never asked for
    }
)
_MAX_HEAD: Final = 65_536
HUGE_DIGITS: Final = 5_000


@dataclass
class ToolCall:
    """A tool call the fake model makes: name first, then its arguments in ``pieces``."""

    name: str
    arguments: str
    call_id: str = "call_fake1"
    pieces: int = 3


@dataclass
class Reply:
    """What the next chat completion request gets."""

    chunks: list[str] = field(default_factory=list)
    delay: float = 0.0
    first_delay: float = 0.0
    status: int = 200
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    cut_after: int = 0
    usage: bool = True
    chunked: bool = True
    finish: str = "stop"
    tool_calls: list[ToolCall] = field(default_factory=list)
    """Calls streamed after the text as OpenAI does (finish_reason "tool_calls")."""
    # Before chunk ``hold_at`` the stream waits for ``hold`` (set by the test once it has
    # seen what must come first), for ``hold_s`` at most, so the order is the test's own.
    hold: asyncio.Event | None = None
    hold_at: int = 0
    hold_s: float = 10.0

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; known: {sorted(FAULTS)}")


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    connection: int


def chunk_text(text: str, size: int = 4) -> list[str]:
    """Split ``text`` into token-like pieces: words with their leading space, at most ``size``."""
    pieces: list[str] = []
    for word in re.findall(r"\s*\S+|\s+", text):
        pieces.extend(word[i : i + size] for i in range(0, len(word), size))
    return pieces


async def refused_url() -> str:
    """A loopback URL where nothing listens, for connection-refused tests."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return f"http://127.0.0.1:{port}/v1"


class _Conn:
    """One client connection, with a read buffer the disconnect watcher shares."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, serial: int):
        self.reader = reader
        self.writer = writer
        self.serial = serial
        self.buffer = bytearray()
        self.closed = asyncio.Event()

    async def fill(self) -> bool:
        """Read what has arrived into the buffer; False once the client has hung up."""
        try:
            data = await self.reader.read(65_536)
        except ConnectionError:
            data = b""
        if not data:
            self.closed.set()
            return False
        self.buffer += data
        return True

    async def read_until(self, separator: bytes) -> bytes | None:
        """Bytes up to and including ``separator``; None on hang-up or an oversized head."""
        while (end := self.buffer.find(separator)) < 0:
            if len(self.buffer) > _MAX_HEAD or not await self.fill():
                return None
        return self._take(end + len(separator))

    async def read_exactly(self, size: int) -> bytes | None:
        """Exactly ``size`` bytes; None on hang-up."""
        while len(self.buffer) < size:
            if not await self.fill():
                return None
        return self._take(size)

    def _take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def send(self, data: bytes) -> bool:
        """Write and drain; False if the client is gone."""
        if self.closed.is_set() or self.writer.is_closing():
            return False
        try:
            self.writer.write(data)
            await self.writer.drain()
        except ConnectionError:
            self.closed.set()
            return False
        return True


class FakeLLM:
    """A loopback OpenAI-compatible server whose replies tests script with ``enqueue``."""

    def __init__(
        self,
        *,
        models: list[str] | None = None,
        window: int | None = None,
        overflow: str = "openai",
        states: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        # Another address only for tests whose servers run elsewhere (a network namespace).
        self.host = host
        self.models = models if models is not None else ["fake-model"]
        # Prompts of more than ``window`` words are refused in the ``overflow`` style.
        self.window = window
        self.overflow = overflow
        # Where the window is stated: "props" (llama.cpp), "show" (Ollama) or nowhere.
        self.states = states
        self.missing_paths: set[str] = set()
        # Paths answered by a misbehaving body instead: "endless" (a JSON body that never
        # ends, as fast as it is read) or "trickle" (a byte every 0.5 s for 12 s).
        self.probe_faults: dict[str, str] = {}
        self.fault_bytes_sent: dict[str, int] = {}
        self.requests: list[RecordedRequest] = []
        self.chunk_sent_at: list[float] = []
        # (content piece, perf_counter when written): benchmarks match pieces to client reads.
        self.sent_log: list[tuple[str, float]] = []
        self.disconnected_at: list[float] = []
        self.base_url = ""
        self.root_url = ""
        self._replies: list[Reply] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._connections = 0
        self._changed = asyncio.Event()

    async def start(self) -> None:
        """Listen on 127.0.0.1 (or ``host``), port 0."""
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        port = self._server.sockets[0].getsockname()[1]
        self.root_url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.root_url}/v1"

    async def stop(self) -> None:
        """Stop listening and drop every open connection."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def enqueue(self, *replies: Reply) -> None:
        """Script the next chat completion replies, first in first out."""
        self._replies.extend(replies)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The chat completion requests received so far."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def wait_disconnect(self, timeout: float = 1.0, count: int = 1) -> float:
        """Wait until ``count`` clients hung up mid-reply; return when the last of them did."""
        async with asyncio.timeout(timeout):
            while len(self.disconnected_at) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.disconnected_at[count - 1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._connections += 1
        conn = _Conn(reader, writer, self._connections)
        try:
            while await self._handle_one(conn):
                pass
        except asyncio.CancelledError:
            writer.transport.abort()  # stop() drops connections at once
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _handle_one(self, conn: _Conn) -> bool:
        """Serve one request; True to keep the connection for another."""
        head = await conn.read_until(b"\r\n\r\n")
        if head is None:
            return False
        method, target, headers = _parse_head(head)
        body = await conn.read_exactly(int(headers.get("content-length", "0") or 0))
        if body is None:
            return False
        path = target.partition("?")[0]
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        self.requests.append(RecordedRequest(method, path, headers, payload, conn.serial))
        keep = headers.get("connection", "").lower() != "close"
        if (
            method == "POST"
            and path.endswith("/chat/completions")
            and path not in self.missing_paths
        ):
            request = payload if isinstance(payload, dict) else {}
            asked = prompt_tokens(request.get("messages"))
            if self.window is not None and asked > self.window:
                if self.overflow == "stream_cut":
                    # llama-cpp-python's server: 200, then the stream drops (error in its log).
                    sse = {"content-type": "text/event-stream", "transfer-encoding": "chunked"}
                    await conn.send(_status_line(200, sse))
                    conn.writer.close()
                    return False
                status, refusal = overflow_body(self.overflow, self.window, asked)
                return await self._send_json(conn, status, refusal) and keep
            reply = self._replies.pop(0) if self._replies else Reply(chunk_text(DEFAULT_TEXT))
            return await self._reply(conn, request, reply) and keep
        if path in self.probe_faults:
            return await self._misbehave(conn, path, self.probe_faults[path])
        found = None if path in self.missing_paths else self._probe_answer(method, path)
        if found is None:
            return await self._send_json(conn, 404, _error(f"No route for {path}.", 404)) and keep
        return await self._send_json(conn, 200, json.dumps(found)) and keep

    async def _misbehave(self, conn: _Conn, path: str, fault: str) -> bool:
        """Answer ``path`` with a body that never ends, or ends only after 12 s."""
        head = {"content-type": "application/json", "transfer-encoding": "chunked"}
        if not await conn.send(_status_line(200, head)):
            return False
        piece, pause, count = (b" " * 65536, 0.0, None) if fault == "endless" else (b" ", 0.5, 24)
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        sent = 0
        while count is None or sent < count * len(piece):
            if not await conn.send(chunk):
                return False
            sent += len(piece)
            self.fault_bytes_sent[path] = sent
            await asyncio.sleep(pause)
        return await conn.send(b"2\r\n{}\r\n0\r\n\r\n")

    def _probe_answer(self, method: str, path: str) -> dict[str, Any] | None:
        """What the listing, health and context endpoints say."""
        if (method, path, self.states) == ("POST", "/api/show", "show"):
            return {
                "parameters": f"num_ctx {self.window}\nstop <|eot_id|>",
                "model_info": {"llama.context_length": 131072},
            }
        if (method, path, self.states) == ("GET", "/props", "props"):
            return {"default_generation_settings": {"n_ctx": self.window}, "total_slots": 1}
        if method != "GET":
            return None
        if path == "/v1/models":
            return {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]}
        if path == "/api/tags":
            return {"models": [{"name": m, "model": m} for m in self.models]}
        return {"status": "ok"} if path == "/health" else None

    async def _send_json(
        self, conn: _Conn, status: int, body: str, headers: dict[str, str] | None = None
    ) -> bool:
        data = body.encode()
        json_like = body.lstrip().startswith(("{", "["))
        kind = "application/json" if json_like else "text/plain; charset=utf-8"
        fields = {"content-type": kind, "content-length": str(len(data)), **(headers or {})}
        return await conn.send(_status_line(status, fields) + data)

    async def _reply(self, conn: _Conn, request: dict[str, Any], reply: Reply) -> bool:
        if reply.status != 200 or (reply.body is not None and reply.fault is None):
            body = (
                reply.body if reply.body is not None else _error("Scripted failure.", reply.status)
            )
            return await self._send_json(conn, reply.status, body, reply.headers)
        watcher = asyncio.create_task(self._watch(conn))
        try:
            keep = await _Stream(self, conn, request, reply).run()
        finally:
            # Stop watching before closing the socket ourselves, or that close counts.
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if conn.closed.is_set() and watcher.cancelled():
            # A write into a full pipe saw the hang-up (a reset) before the watcher read it.
            self._hung_up()
        return keep and not conn.closed.is_set()

    async def _watch(self, conn: _Conn) -> None:
        """Notice at once when the client hangs up while a reply is going out."""
        while await conn.fill():
            pass
        self._hung_up()

    def _hung_up(self) -> None:
        self.disconnected_at.append(time.perf_counter())
        self._changed.set()


class _Stream:
    """Writes one streamed reply, faults included."""

    def __init__(self, fake: FakeLLM, conn: _Conn, request: dict[str, Any], reply: Reply):
        self._fake = fake
        self._conn = conn
        self._reply = reply
        self._eol = "\r\n" if reply.fault == "crlf" else "\n"
        self._id = f"chatcmpl-fake{conn.serial:04d}{len(fake.requests):04d}"
        self._created = int(time.time())
        self._model = str(request.get("model", "fake-model"))
        options = request.get("stream_options")
        asked = isinstance(options, dict) and options.get("include_usage") is True
        self._usage = reply.usage and asked
        self._messages = request.get("messages") or []
        self._held: list[bytes] | None = [] if reply.fault == "gzip" else None

    async def run(self) -> bool:
        """Send the reply; True if the connection may serve another request."""
        reply = self._reply
        if reply.fault == "hang":
            await self._conn.closed.wait()
            return False
        head = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        head |= {"transfer-encoding": "chunked"} if reply.chunked else {"connection": "close"}
        if self._held is not None:
            head["content-encoding"] = "gzip"
        if not await self._conn.send(_status_line(200, head | reply.headers)):
            return False
        await asyncio.sleep(reply.first_delay)
        if not await self._event(self._chunk({"role": "assistant", "content": ""})):
            return False
        for index, piece in enumerate(reply.chunks):
            if index == reply.cut_after and reply.fault in _MIDWAY:
                return await self._fault()
            if index and reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.hold is not None and index == reply.hold_at:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reply.hold.wait(), reply.hold_s)
            if not await self._content(piece):
                return False
            sent = time.perf_counter()
            self._fake.chunk_sent_at.append(sent)
            self._fake.sent_log.append((piece, sent))
        if reply.fault in _MIDWAY:
            return await self._fault()
        for index, call in enumerate(reply.tool_calls):
            if not await self._tool_call(index, call):
                return False
        return await self._finish()

    async def _tool_call(self, index: int, call: ToolCall) -> bool:
        """One tool call as OpenAI streams it: id, type and name, then argument pieces."""
        opening = {"index": index, "id": call.call_id, "type": "function"}
        opening["function"] = {"name": call.name, "arguments": ""}
        if not await self._event(self._chunk({"tool_calls": [opening]})):
            return False
        size = max(1, -(-len(call.arguments) // call.pieces))
        for start in range(0, len(call.arguments), size):
            arguments = call.arguments[start : start + size]
            piece = {"index": index, "function": {"arguments": arguments}}
            if not await self._event(self._chunk({"tool_calls": [piece]})):
                return False
        return True

    async def _content(self, piece: str) -> bool:
        if self._reply.fault == "empty_deltas":
            for delta in ({}, {"content": None}, {"content": ""}):
                if not await self._event(self._chunk(delta)):
                    return False
        return await self._event(self._chunk({"content": piece}))

    async def _finish(self) -> bool:
        fault = self._reply.fault
        if fault != "no_finish":
            finish = self._reply.finish
            if self._reply.tool_calls and finish == "stop":
                finish = "tool_calls"
            if not await self._event(self._chunk({}, finish=finish)):
                return False
            if self._usage and not await self._send_usage():
                return False
            if fault != "no_done" and not await self._write(f"data: [DONE]{self._eol}{self._eol}"):
                return False
        return await self._end()

    async def _fault(self) -> bool:
        fault = self._reply.fault
        if fault == "cut":
            self._conn.writer.close()
            return False
        if fault == "stall":
            await self._conn.closed.wait()
            return False
        if fault == "malformed":
            await self._write(
                f'data: {{"id": "{self._id}", "choices": [{{"delta{self._eol}{self._eol}'
            )
        elif fault == "error_in_stream":
            error = self._reply.body or _error("The server had an error processing your request.")
            await self._write(f"data: {error}{self._eol}{self._eol}")
        return await self._end()

    async def _send_usage(self) -> bool:
        if self._reply.fault != "huge_usage":
            return await self._event(self._usage_chunk())
        # json.dumps refuses ints beyond 4300 digits, so the number is spliced in as text.
        text = json.dumps(self._usage_chunk(), separators=(",", ":"))
        text = re.sub(r'"prompt_tokens":\d+', f'"prompt_tokens":{"9" * HUGE_DIGITS}', text)
        return await self._write(f"data: {text}{self._eol}{self._eol}")

    async def _end(self) -> bool:
        if self._held is not None:
            body, self._held = gzip.compress(b"".join(self._held)), None
            if not await self._write_bytes(body):
                return False
        if self._reply.chunked:
            return await self._conn.send(b"0\r\n\r\n")
        # A close-delimited body ends when the connection does.
        self._conn.writer.close()
        return False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._usage:
            chunk["usage"] = None  # as OpenAI does on every chunk but the last
        return chunk

    def _usage_chunk(self) -> dict[str, Any]:
        # Words stand in for prompt tokens, chunks for completion tokens.
        prompt = prompt_tokens(self._messages)
        done = len(self._reply.chunks)
        usage = {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}
        return {**self._chunk({}), "choices": [], "usage": usage}

    async def _event(self, payload: dict[str, Any]) -> bool:
        eol = self._eol
        text = json.dumps(payload, separators=(",", ":"))
        if self._reply.fault == "multiline":
            # A newline between JSON tokens is whitespace, so the joined data still parses.
            split = text.index(',"choices"') + 1
            text = f"{text[:split]}{eol}data: {text[split:]}"
        prefix = f": ping{eol}{eol}" if self._reply.fault == "keepalive" else ""
        return await self._write(f"{prefix}data: {text}{eol}{eol}")

    async def _write(self, text: str) -> bool:
        if self._held is not None:
            self._held.append(text.encode())  # compressed and sent whole at the end
            return True
        return await self._write_bytes(text.encode())

    async def _write_bytes(self, data: bytes) -> bool:
        if self._reply.chunked:
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        return await self._conn.send(data)


_MIDWAY: Final = frozenset({"cut", "stall", "malformed", "error_in_stream"})


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


def _status_line(status: int, headers: dict[str, str]) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {status} {phrase}", "server: fake-llm"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _error(message: str, status: int = 500) -> str:
    """An error body shaped like OpenAI's."""
    kind, code = _ERROR_KINDS.get(status, ("server_error", None))
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


_ERROR_KINDS: Final = {
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
