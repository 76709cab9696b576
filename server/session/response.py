"""One assistant response: LLM text → sentences → speech, streamed in order.

Three kinds of task cooperate per response:

- the *producer* reads the LLM stream, queues text deltas and hands finished
  sentences to the speaker, waiting while about a minute of them wait for synthesis
  (``SentenceBacklog``): a spoken answer is read at the pace of its speech;
- the *speaker* (server/session/response_speech.py) synthesises up to ``lookahead``
  sentences at once and queues their audio strictly in sentence order;
- the *sender* drains the outbox to the WebSocket. Pause closes its gate:
  nothing reaches the client, and the producer keeps consuming the upstream
  until the outbox is full (``Outbox``), then waits; resume opens the gate and
  everything follows in order. A client that does not read fills the outbox
  the same way. While no client is connected, synthesis waits for one, and the
  sender stops once the replay buffer has no more room kept for the absent client.

Cancel stops the producer and speaker at once (closing the upstream request
and killing synthesis) and makes ``response.done`` the last thing sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

from server import protocol as p
from server.errors import TalktermError
from server.llm import TextDelta, ToolCallDelta, Usage
from server.session.answer_cap import AnswerCap
from server.session.context import ContextEvent, Notice
from server.session.conversation import Item
from server.session.outbox import Outbox
from server.session.response_events import OPENING
from server.session.response_options import Framing
from server.session.response_parts import Audience, Timings, Voice
from server.session.response_speech import EVENT_OVERHEAD, ResponseSpeech
from server.session.sentence_backlog import SentenceBacklog
from server.session.tasks import first_of, stop_tasks
from server.session.tool_calls import CallStream, NewItem, standalone_item
from server.speech.sentences import SentenceSplitter

log = logging.getLogger("talkterm.server")

Send = Callable[[dict[str, Any]], Awaitable[None]]
# Starts the answer's upstream request: text, usage and notices (server.session.context).
Reply = Callable[[], AsyncIterator[ContextEvent]]


class _Final:
    """Marks the end of the outbox."""


class ResponseRun(ResponseSpeech):
    """Generates, speaks and delivers one response; pause, resume and cancel it."""

    def __init__(
        self,
        *,
        send: Send,
        send_lock: asyncio.Lock,
        reply: Reply,
        item: Item,
        voice: Voice,
        lookahead: int,
        on_done: Callable[[ResponseRun], None],
        outbox: Outbox,
        outlet: Audience,
        cap: AnswerCap,
        framing: Framing | None = None,
        new_call_item: NewItem = standalone_item,
    ) -> None:
        self.id = p.new_id("resp")
        self.cap = cap
        self.framing = framing or Framing()
        self.calls = CallStream(self.id, new_call_item, self.framing.in_conversation, item.id)
        self.item = item
        self.status: p.ResponseStatus = p.IN_PROGRESS
        self.timings = Timings()
        self.usage: Usage | None = None
        self.error: TalktermError | None = None
        self._send = send
        self._lock = send_lock
        self._reply = reply
        self._voice = voice
        self._lookahead = lookahead
        self._on_done = on_done
        self._outbox = outbox
        self._outlet = outlet
        self._stopped = asyncio.Event()
        self._gate = asyncio.Event()
        self._gate.set()
        self._cancelled = False
        self.cancel_reason = "client_cancelled"
        self._final_sent = False
        self._done_notified = False
        self._audio_bytes = 0
        self._speech_started: float | None = None  # monotonic time of the first audio queued
        # Bounded: the producer reads the upstream at the pace of speech (sentence_backlog.py).
        self._segments = SentenceBacklog()
        self._workers: list[asyncio.Task[None]] = []
        self._synthesis: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._opened = asyncio.Event()
        self._last_opening: dict[str, Any] | None = None
        self._recent_language: str | None = None  # the prior for a sentence too short to tell

    @property
    def cancelled(self) -> bool:
        """Whether the client cancelled this response."""
        return self._cancelled

    def start(self) -> asyncio.Task[None]:
        """Begin generating; returns the response's task at once.

        Everything is set up before this returns, so a cancel or pause that arrives in
        the same read as the response.create finds a response to act on.
        """
        for event in self._opening_events():
            self._outbox.put_nowait(event)
        sender = asyncio.create_task(self._sender())
        producer, speaker = asyncio.create_task(self._produce()), asyncio.create_task(self._speak())
        self._workers = [producer, speaker]
        self._task = asyncio.create_task(
            self._run(producer, speaker, sender), name=f"response {self.id}"
        )
        return self._task

    async def wait(self) -> None:
        """Wait until every task of the response has finished (a dead socket is no error)."""
        if self._task is not None:
            await asyncio.gather(asyncio.shield(self._task), return_exceptions=True)

    async def pause(self) -> None:
        """Hold everything of this response; the upstream keeps being consumed."""
        await self._opened.wait()  # response.created goes out before response.paused
        self._gate.clear()
        async with self._lock:
            await self._send(self._event(p.RESPONSE_PAUSED, **self._ids()))

    async def resume(self) -> None:
        """Deliver what was held, in order, then carry on streaming."""
        await self._opened.wait()  # the ack, too, comes after response.created
        async with self._lock:
            await self._send(self._event(p.RESPONSE_RESUMED, **self._ids()))
        self._gate.set()

    def cancel(self, reason: str = "client_cancelled") -> None:
        """Stop at once: upstream closed, synthesis killed, done event queued last.

        ``reason`` is the Realtime API's: the client's ``response.cancel``, or
        ``turn_detected`` when the user started speaking over the answer.
        """
        if self._cancelled or self._final_sent:
            return
        self._cancelled = True
        self.cancel_reason = reason
        self._stopped.set()
        self.status = p.CANCELLED
        for worker in self._workers:
            worker.cancel()
        # Whatever is still queued was never delivered, so it never happened; only the
        # opening events stay, so the client sees the response it cancelled begin and end.
        kept = [entry for entry in self._outbox.clear() if _is_opening(entry)]
        for entry in [*kept, _Final()]:
            self._outbox.put_nowait(entry)
        self._gate.set()

    # -- the tasks ---------------------------------------------------------

    async def _run(
        self,
        producer: asyncio.Task[None],
        speaker: asyncio.Task[None],
        sender: asyncio.Task[None],
    ) -> None:
        try:
            await asyncio.gather(producer, speaker, return_exceptions=True)
            if not self._cancelled:
                self._finish()
            await sender
        finally:
            await stop_tasks(producer, speaker, sender)
            self._notify_done()

    async def _produce(self) -> None:
        tts = self._voice.tts
        splitter = tts.splitter() if tts else SentenceSplitter()
        events = self._reply()
        try:
            async for event in events:
                await self._take(event, splitter)
                if self.cap.reached:  # the upstream ignored max_tokens: the answer ends here
                    log.info("response %s: cut at %d characters", self.id, self.cap.max_chars)
                    break
            for segment in splitter.flush() if self.audio else []:
                await self._segments.put(segment)
            for call_event in self.calls.close():
                self._outbox.put_nowait(call_event)
        except TalktermError as exc:
            self.error = _held_note(exc, self._outbox.held_s)
        except Exception as exc:  # a bug must fail one response, not the session
            log.exception("response %s: unexpected failure", self.id)
            self.error = TalktermError(f"The server failed unexpectedly ({type(exc).__name__}).")
        finally:
            self._segments.end()
            # Closed now, not when collected: a cut answer's upstream request ends at once.
            await _close(events)

    async def _take(self, event: ContextEvent, splitter: SentenceSplitter) -> None:
        """Queue one upstream event for the client (and its sentences for the speaker)."""
        if isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Notice):
            self._outbox.put_nowait(p.notice_event(event.code, event.message, self.id))
        elif isinstance(event, ToolCallDelta):
            self.cap.take(event.arguments)  # counted, never cut: half a JSON helps nobody
            for call_event in self.calls.feed(event):
                await self._outbox.put(call_event, len(event.arguments) + EVENT_OVERHEAD)
        elif isinstance(event, TextDelta) and (text := self.cap.take(event.text)):
            kind = p.TRANSCRIPT_DELTA if self.audio else p.TEXT_DELTA
            delta = self._event(kind, delta=text, **self._where())
            await self._outbox.put(delta, len(text) + EVENT_OVERHEAD)
            for segment in splitter.feed(text) if self.audio else []:
                await self._segments.put(segment)

    async def _sender(self) -> None:
        while True:
            entry = await self._outbox.get()
            final = isinstance(entry, _Final)
            if self._cancelled and not final and not _is_opening(entry):
                continue
            await self._client_room()
            while True:
                await self._gate.wait()
                async with self._lock:
                    # Re-checked under the lock: a pause or cancel may have come meanwhile.
                    if self._cancelled and not final and not _is_opening(entry):
                        break
                    if self._gate.is_set():
                        if final:
                            await self._send_final()
                            return
                        await self._deliver(entry)
                        break
            if not self._opened.is_set() and entry is self._last_opening:
                self._opened.set()

    async def _client_room(self) -> None:
        """Wait while no client is connected and no more room is kept for one (or cancel)."""
        while not (self._cancelled or self._outlet.accepting()):
            await first_of(self._outlet.present, self._stopped)

    async def _deliver(self, entry: Any) -> None:
        if isinstance(entry, tuple):
            await self._send_audio(entry[1])
            return
        if entry["type"] in (p.TEXT_DELTA, p.TRANSCRIPT_DELTA):
            self.item.append(entry["delta"])
            if self.timings.first_text is None:
                self.timings.first_text = time.perf_counter()
        await self._send(entry)

    async def _send_audio(self, audio: bytes) -> None:
        if self.timings.first_audio is None:
            self.timings.first_audio = time.perf_counter()
        # Raw bytes: the session's outlet frames them as binary or base64 JSON.
        await self._send(self._event(p.AUDIO_DELTA, **self._where(), delta=audio))

    async def _send_final(self) -> None:
        """Send the closing events; the caller holds the send lock."""
        self._final_sent = True
        self.timings.ended = time.perf_counter()
        if not self._cancelled:
            ended: p.ResponseStatus = p.INCOMPLETE if self.cap.reached else p.COMPLETED
            self.status = p.FAILED if self.error is not None else ended
        self.item.status = p.COMPLETED if self.status == p.COMPLETED else p.INCOMPLETE
        for event in self._closing_events():
            await self._send(event)
        # The session is free for the next response the moment response.done is out;
        # cleaning up the finished tasks must not hold it up.
        self._notify_done()
        log.info(
            "response %s status=%s ttft_ms=%s ttfa_ms=%s duration_ms=%s chars=%d audio_s=%.2f",
            self.id,
            self.status,
            *self.timings.as_ms().values(),
            len(self.item.text),
            self.item.audio_ms / 1000,
        )

    def _notify_done(self) -> None:
        if not self._done_notified:
            self._done_notified = True
            self._on_done(self)

    def _finish(self) -> None:
        self._outbox.put_nowait(_Final())


# An answer held this long (paused, or a client not reading) may outlast the upstream's patience.
_HELD_NOTE_S = 5.0


def _held_note(exc: TalktermError, held_s: float) -> TalktermError:
    """Say in plain words why an upstream gave up on an answer that was held."""
    if held_s < _HELD_NOTE_S:
        return exc
    exc.message = (
        f"{exc.message} The answer was held for {held_s:.0f} s (paused, or not being read), "
        "and the LLM endpoint stopped waiting; the answer ends where it got to."
    )
    return exc


async def _close(events: AsyncIterator[ContextEvent]) -> None:
    """Close an upstream event stream that is an async generator (a no-op once it ended)."""
    if isinstance(events, AsyncGenerator):
        await events.aclose()


def _is_opening(entry: Any) -> bool:
    return isinstance(entry, dict) and entry["type"] in OPENING
