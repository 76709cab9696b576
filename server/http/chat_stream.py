"""The WebSocket path's response pipeline, seen as Chat Completions chunks.

A ``ResponseRun`` (sentence splitting, pipelined synthesis, first clause early)
does the work; this adapter gives it a ``send`` that queues its Realtime events
and turns them into ``chat.completion.chunk`` objects: text deltas become
``delta.content`` (or ``delta.audio.transcript`` when speaking), audio deltas
``delta.audio.data`` in base64, the model's tool calls ``delta.tool_calls``,
``response.done`` the finish chunk.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

from server import protocol as p
from server.errors import TalktermError
from server.http.audio_out import wav_header
from server.http.chat_request import ChatRequest
from server.http.held import HeldBytes, OverBudget
from server.llm import Message
from server.session.answer_cap import AnswerCap
from server.session.context import SessionContext
from server.session.conversation import Item
from server.session.outbox import Outbox
from server.session.response import Reply, ResponseRun
from server.session.response_parts import Voice
from server.session.response_speech import EVENT_OVERHEAD
from server.session.session import Services
from server.session.tool_calls import ARGUMENTS_DELTA
from server.speech import engine_voice, unknown_voice
from server.speech.audio_format import make_encoder

log = logging.getLogger("talkterm.server")

PCM_FORMAT: dict[str, Any] = {"type": "audio/pcm", "rate": p.PCM_RATE}
# Audio ids stay valid for an hour at OpenAI; ours are never stored, but SDKs expect the field.
_EXPIRES_S = 3600
_QUEUED_EVENTS = 64
# One piece of an answer: text, audio, or a ``delta.tool_calls`` entry.
Piece = str | bytes | dict[str, Any]


def chosen_model(services: Services, asked: str) -> str:
    """The model a request names if the upstream lists it, else the server's own.

    OpenAI clients name models of their own ("gpt-4o", "talkterm"): those mean "yours".
    """
    return asked if asked in (services.models or ()) else services.llm.model


def _reply(services: Services, request: ChatRequest) -> Reply:
    """The upstream answer, fitted to the model's context like a session's."""
    messages = _with_instructions(request, services.instructions)
    cap = request.max_tokens or services.max_output_tokens
    context = SessionContext(services.book)
    llm, model = services.llm, chosen_model(services, request.model)
    options = request.options
    return lambda: context.reply(llm, messages, model=model, cap=cap, options=options)


class _PassedOnItem(Item):
    """The answer's item, keeping none of the text it delivers: the HTTP client has it, and
    nobody reads it again (a stalled or cancelled answer would otherwise hold all of it,
    and build its closing events from it)."""

    __slots__ = ()

    def append(self, piece: str) -> None:
        """Let the piece go."""


class _Listener:
    """The client of one HTTP answer: there from the request until it hangs up."""

    def __init__(self) -> None:
        self.present = asyncio.Event()
        self.present.set()

    def accepting(self) -> bool:
        """Always: the request itself is the connection, and backpressure is the queue's."""
        return True


class ChatRun:
    """One Chat Completions answer: start it, read its chunks, stop it."""

    def __init__(self, services: Services, request: ChatRequest, model: str) -> None:
        self.request = request
        self.id = p.new_id("chatcmpl")
        self.audio_id = p.new_id("audio")
        self.created = int(time.time())
        # The model the request chose (a listed one), else the server's own, by its name.
        self.model = request.model if request.model in (services.models or ()) else model
        self.usage: dict[str, int] | None = None
        self.error: TalktermError | None = None
        self.cancelled = False
        self.tool_calls: list[dict[str, Any]] = []
        """The model's tool calls so far, whole (for a non-streamed answer)."""
        self.dropped: OverBudget | None = None
        """Why the server's memory budget ended this answer, if it did."""
        self.held = HeldBytes(services.replay_budget, self._drop)
        """What the answer holds for its client (outbox, queued chunks, a whole body)."""
        # Bounded: a client that reads slowly fills the answer's own outbox, which then
        # stops reading the upstream, as on the WebSocket.
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_QUEUED_EVENTS)
        limits = services.limits
        item = _PassedOnItem(
            id=p.new_id("item"),
            role="assistant",
            status=p.IN_PROGRESS,
            modality="audio" if request.audio else "text",
        )
        self._run = ResponseRun(
            send=self._queue,
            send_lock=asyncio.Lock(),
            reply=_reply(services, request),
            item=item,
            voice=Voice(
                tts=services.tts if request.audio else None,
                name=_voice(services, request.voice),
                encoder=lambda: make_encoder("audio/pcm"),
                format=PCM_FORMAT,
                speed=request.speed or 1.0,
                slots=services.synthesis,
                owner=self.id,
            ),
            lookahead=services.lookahead,
            on_done=lambda _: None,
            outbox=Outbox(
                limits.response_buffer_bytes,
                limits.response_buffer_audio_s * 1000,
                on_size=self.held.grow,
            ),
            outlet=_Listener(),
            cap=AnswerCap(request.max_tokens or services.max_output_tokens, limits.answer_chars),
        )

    def start(self) -> None:
        """Begin generating."""
        self._run.start()

    def stop(self) -> None:
        """Close the upstream request and kill synthesis now (the client went away)."""
        self.cancelled = True
        self._run.cancel()
        self._forget_events()
        self.held.release()

    def _drop(self, error: OverBudget) -> None:
        """End the answer here: the server's memory budget is spent and it holds the most."""
        self.dropped = error
        log.info(
            "%s: ended, holding %d bytes unread over the memory budget", self.id, self.held.held
        )
        self._run.cancel("memory_budget")
        self._forget_events()

    def _forget_events(self) -> None:
        """Let the queued chunks go, freeing a blocked sender; response.done stays (it ends
        ``pieces``)."""
        kept = []
        while not self._events.empty():
            event = self._events.get_nowait()
            self.held.grow(-_size(event))
            if event["type"] == p.RESPONSE_DONE:
                kept.append(event)
        for event in kept:
            self.held.grow(_size(event))
            self._events.put_nowait(event)

    async def wait(self) -> None:
        """Wait until the run's tasks have finished."""
        await self._run.wait()

    async def pieces(self) -> AsyncGenerator[Piece, None]:
        """The answer in order, text as str, audio as bytes and tool calls as
        ``delta.tool_calls`` entries, ending at response.done.

        An upstream failure ends the iteration with ``self.error`` set. Streamed WAV
        gets its header in front of the first audio.
        """
        header = self.request.audio_format == "wav" and self.request.stream
        while True:
            event = await self._events.get()
            self.held.grow(-_size(event))
            kind = event["type"]
            if self.dropped is not None and kind != p.RESPONSE_DONE:
                continue  # a chunk a blocked sender still had: the answer ended before it
            if kind in (p.TEXT_DELTA, p.TRANSCRIPT_DELTA):
                yield str(event["delta"])
            elif kind == p.AUDIO_DELTA:
                yield (wav_header() if header else b"") + event["delta"]
                header = False
            elif kind == p.RESPONSE_DONE:
                self._finish(event["response"])
                return
            elif (call := self._tool_piece(event)) is not None:
                yield call

    def _tool_piece(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """A ``delta.tool_calls`` entry for a call's start or a piece of its arguments."""
        kind = event["type"]
        if kind == p.OUTPUT_ITEM_ADDED and event["item"]["type"] == "function_call":
            item = event["item"]
            function = {"name": item["name"], "arguments": ""}
            call = {"id": item["call_id"], "type": "function", "function": function}
            self.tool_calls.append(call)
            return {"index": len(self.tool_calls) - 1} | call
        if kind == ARGUMENTS_DELTA and self.tool_calls:
            index = event["output_index"] - 1
            self.tool_calls[index]["function"]["arguments"] += event["delta"]
            return {"index": index, "function": {"arguments": event["delta"]}}
        return None

    @property
    def finish_reason(self) -> str:
        """Why the answer ended: "tool_calls" when the model called tools, "length" when
        the server cut an upstream that went past the cap, else "stop"."""
        if self.tool_calls:
            return "tool_calls"
        return "length" if self._run.cap.reached else "stop"

    def delta(self, piece: Piece) -> dict[str, Any]:
        """The chunk ``delta`` for one piece of the answer."""
        if isinstance(piece, dict):
            return {"tool_calls": [piece]}
        if isinstance(piece, bytes):
            return {"audio": {"id": self.audio_id, "data": base64.b64encode(piece).decode()}}
        if self.request.audio:
            return {"audio": {"id": self.audio_id, "transcript": piece}}
        return {"content": piece}

    def chunk(self, delta: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
        """A ``chat.completion.chunk`` carrying ``delta`` (no choices when None)."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self.request.include_usage:
            body["usage"] = None
        return body

    def first_delta(self) -> dict[str, Any]:
        """The opening delta OpenAI sends: the role, content empty (null when speaking)."""
        return {"role": "assistant", "content": None if self.request.audio else ""}

    def last_delta(self) -> dict[str, Any]:
        """The finishing delta; a spoken answer names its audio's expiry."""
        if not self.request.audio:
            return {}
        return {"audio": {"id": self.audio_id, "expires_at": self.created + _EXPIRES_S}}

    def usage_chunk(self) -> dict[str, Any]:
        """The extra last chunk of ``stream_options.include_usage``."""
        return self.chunk(None) | {"usage": self.usage}

    async def _queue(self, event: dict[str, Any]) -> None:
        # After a hang-up only response.done still matters: it ends pieces(), so the
        # request's task finishes instead of waiting for ever.
        last = event["type"] == p.RESPONSE_DONE
        if not last and (self.cancelled or self.dropped is not None):
            return
        self.held.grow(_size(event))  # may end this very answer: then only the end goes
        if not last and self.dropped is not None:
            self.held.grow(-_size(event))
            return
        await self._events.put(event)

    def _finish(self, response: dict[str, Any]) -> None:
        self.error = self.dropped or self._run.error
        usage = response.get("usage")
        if usage is not None:
            self.usage = {
                "prompt_tokens": usage["input_tokens"],
                "completion_tokens": usage["output_tokens"],
                "total_tokens": usage["total_tokens"],
            }


def _size(event: dict[str, Any]) -> int:
    """What a queued event holds, as the outbox counts it."""
    delta = event.get("delta")
    return (len(delta) if isinstance(delta, str | bytes) else 0) + EVENT_OVERHEAD


def _with_instructions(request: ChatRequest, instructions: str) -> list[Message]:
    """The client's history; the server's system prompt first unless the client sent one."""
    if request.has_system or not instructions:
        return list(request.messages)
    return [{"role": "system", "content": instructions}, *request.messages]


def _voice(services: Services, wanted: str | None) -> str | None:
    """The wanted voice if the engine has it, else the server's (OpenAI clients say alloy)."""
    tts = services.tts
    if wanted is None or tts is None or unknown_voice(tts, wanted) is not None:
        return services.voice
    return engine_voice(tts, wanted) or services.voice
