"""The speaker of one response: its sentences synthesised ahead, delivered in order.

A mixin of ``ResponseRun`` (server/session/response.py), kept apart so the run's
producer and sender and its speech each stay a readable size; it uses the run's state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from server import protocol as p
from server.errors import TTSError, TTSUnavailable
from server.session.conversation import SpokenSpan
from server.session.response_events import ResponseEvents
from server.session.response_parts import synthesis_slot
from server.session.tasks import stop_tasks
from server.speech.joins import seamless
from server.speech.polyglot import Plan, polyglot, speak
from server.speech.scheduler import speech_due
from server.speech.sentences import Segment
from server.speech.speakable import speakable

if TYPE_CHECKING:
    from server.session.outbox import Outbox
    from server.session.response_parts import Audience
    from server.session.sentence_backlog import SentenceBacklog

# Largest audio delta: 100 ms keeps pause/stop responsive on the client.
_AUDIO_CHUNK = p.PCM_RATE * p.PCM_SAMPLE_WIDTH // 10
_BYTES_PER_S = p.PCM_RATE * p.PCM_SAMPLE_WIDTH
EVENT_OVERHEAD = 200
"""What an event costs in the outbox beyond its text: ids and type, roughly as sent."""

_Chunks = asyncio.Queue[bytes | BaseException | None]


class ResponseSpeech(ResponseEvents):
    """Synthesises a response's sentences and queues their audio in the outbox."""

    _lookahead: int
    _outbox: Outbox
    _outlet: Audience
    _segments: SentenceBacklog
    _synthesis: set[asyncio.Task[None]]
    _recent_language: str | None
    _audio_bytes: int
    _speech_started: float | None

    async def _speak(self) -> None:
        """Synthesise up to ``lookahead`` sentences ahead; deliver them in order."""
        slots = asyncio.Semaphore(self._lookahead)
        ordered: asyncio.Queue[tuple[Segment, Plan, _Chunks] | None] = asyncio.Queue()
        starter = asyncio.create_task(self._start_synthesis(slots, ordered))
        try:
            while (entry := await ordered.get()) is not None:
                try:
                    await self._deliver_segment(*entry)
                finally:
                    slots.release()
        except TTSError as exc:
            self._tts_failed(exc)
        finally:
            # No more speech (the engine failed, or the end): the producer must never
            # wait for synthesis that will not come.
            self._segments.close()
            # Awaited, not just cancelled: espeak-ng must be killed and reaped now.
            await stop_tasks(starter, *self._synthesis)

    async def _start_synthesis(
        self, slots: asyncio.Semaphore, ordered: asyncio.Queue[tuple[Segment, Plan, _Chunks] | None]
    ) -> None:
        while (segment := await self._segments.get()) is not None:
            text = p.utf8_safe(speakable(segment.text))
            if not text or self._voice.tts is None:
                continue
            plan = polyglot(self._voice.tts).plan(
                text,
                self._voice.name,
                self._voice.languages,
                recent=self._recent_language,
                continued=segment.continued,
            )
            self._recent_language = plan.language or self._recent_language
            self._tell_once(plan.notices)
            if not plan.parts:
                continue
            await slots.acquire()
            # Nobody to hear it: an abandoned session must not synthesise through its grace.
            await self._outlet.present.wait()
            chunks: _Chunks = asyncio.Queue()
            task = asyncio.create_task(self._synthesise(segment, plan, chunks))
            self._synthesis.add(task)
            task.add_done_callback(self._synthesis.discard)
            ordered.put_nowait((segment, plan, chunks))
        ordered.put_nowait(None)

    def _tell_once(self, notices: tuple[str, ...]) -> None:
        """Each language no voice reads is told once per session, not once per sentence."""
        for notice in notices:
            if notice not in self._voice.told:
                self._voice.told.add(notice)
                self._outbox.put_nowait(p.notice_event(p.NO_VOICE_FOR_LANGUAGE, notice, self.id))

    async def _synthesise(self, segment: Segment, plan: Plan, chunks: _Chunks) -> None:
        voice = self._voice
        assert voice.tts is not None
        # This task's own context: an engine that shares its CPU serves the earliest first.
        speech_due.set(self._audio_due())
        try:
            async with synthesis_slot(voice):
                async for pcm in seamless(speak(plan, voice.speed), segment):
                    chunks.put_nowait(pcm)
        except TTSError as exc:
            chunks.put_nowait(exc)
        finally:
            chunks.put_nowait(None)

    def _audio_due(self) -> float:
        """When audio asked for now must start playing: once all delivered so far has played."""
        if self._speech_started is None:
            return time.monotonic()
        return self._speech_started + self._audio_bytes / _BYTES_PER_S

    async def _deliver_segment(self, segment: Segment, plan: Plan, chunks: _Chunks) -> None:
        span = SpokenSpan(segment.start, segment.end, p.pcm_ms(self._audio_bytes))
        encoder = self._voice.encoder()
        announced = False
        async for pcm in _drain(chunks):
            if not announced:
                self.item.spans.append(span)
                event = self._segment_event(segment, span, len(self.item.spans), plan)
                await self._outbox.put(event, EVENT_OVERHEAD)
                announced = True
            for start in range(0, len(pcm), _AUDIO_CHUNK):
                piece = pcm[start : start + _AUDIO_CHUNK]
                if self._speech_started is None:
                    self._speech_started = time.monotonic()
                self._audio_bytes += len(piece)
                span.audio_ms += p.pcm_ms(len(piece))
                audio = encoder.encode(piece)
                await self._outbox.put(("audio", audio), len(audio), p.pcm_ms(len(piece)))

    def _tts_failed(self, exc: TTSError) -> None:
        code = "tts_unavailable" if isinstance(exc, TTSUnavailable) else exc.code
        message = f"{exc.message} The answer continues as text only."
        self._outbox.put_nowait(p.error_event(code, message, kind="server_error"))


async def _drain(chunks: _Chunks) -> AsyncIterator[bytes]:
    """Yield a segment's PCM chunks until its end marker; re-raise its failure."""
    while (chunk := await chunks.get()) is not None:
        if isinstance(chunk, BaseException):
            raise chunk
        if chunk:
            yield chunk
