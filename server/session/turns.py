"""The spoken turns of one session: each committed turn becomes a user item, is
transcribed, and its words are what the conversation keeps and the LLM is asked.

A turn Silero hears no speech in never reaches the recognizer (Whisper writes
"Thank you." for silence): its transcription fails with ``no_speech``, and a
``response.create`` that follows it ends ``failed`` with the same code. With server
VAD, the turn so far is decoded early, as the silence after it starts; the commit
that comes ``silence_duration_ms`` later takes those words unless speech resumed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import numpy as np

from server import protocol as p
from server.errors import TalktermError
from server.listen import LISTEN_RATE, Samples, STTError, STTProvider
from server.listen.vad import speech_ms
from server.session.conversation import Conversation, Item
from server.session.input_config import InputConfig
from server.speech.resample import resample

log = logging.getLogger("talkterm.server")

Send = Callable[[dict[str, Any]], Awaitable[None]]
# Less speech than this in a turn is a click or a breath, not words.
MIN_SPEECH_MS: Final = 90
_WORD = re.compile(r"\w")
_FAILURES_KEPT: Final = 8


class NoSpeech(STTError):
    """A turn with no words in it: silence, noise, a cough."""

    code = "no_speech"


class Turns:
    """Transcribes committed turns in order and remembers which ones had no words."""

    def __init__(
        self,
        *,
        send: Send,
        conversation: Conversation,
        engine: STTProvider | None,
        config: Callable[[], InputConfig],
        language: str | None,
        on_heard: Callable[[Item], None],
    ) -> None:
        self._send = send
        self._conversation = conversation
        self._engine = engine
        self._config = config
        self._language = language
        self._on_heard = on_heard
        self._pending: set[asyncio.Task[None]] = set()
        self._failed: dict[str, STTError] = {}
        self._early: tuple[str, asyncio.Task[list[str]]] | None = None

    async def commit(self, pcm: bytes, rate: int, item_id: str) -> None:
        """A committed turn: announce its item, then transcribe it in the background."""
        previous = self._conversation.last_id()
        item = self._conversation.add("user", "", item_id, modality="audio")
        await self._send(
            {"type": p.INPUT_COMMITTED, "item_id": item.id, "previous_item_id": previous}
        )
        await self._send(
            {"type": p.ITEM_ADDED, "previous_item_id": previous, "item": item.as_realtime()}
        )
        self._hear(item, pcm, rate, self._take_early(item_id))

    def hear_item(self, item: Item, pcm: bytes, rate: int) -> None:
        """Transcribe a spoken message a client added whole (``conversation.item.create``)."""
        self._hear(item, pcm, rate, None)

    def _hear(
        self, item: Item, pcm: bytes, rate: int, early: asyncio.Task[list[str]] | None
    ) -> None:
        task = asyncio.create_task(self._transcribe(item, pcm, rate, early))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    early_decode = True
    """Decode as the silence starts (bench/listen_bench.py turns it off to compare)."""

    def early(self, item_id: str, pcm: bytes | None, rate: int) -> None:
        """Start decoding a turn as its silence starts; ``pcm`` None drops that decode."""
        self._drop_early()
        if pcm is not None and self._engine is not None and self.early_decode:
            self._early = (item_id, asyncio.create_task(self._words(pcm, rate)))

    async def settled(self) -> None:
        """Wait until every committed turn is transcribed (or has failed)."""
        while self._pending:
            await asyncio.gather(
                *[asyncio.shield(t) for t in self._pending], return_exceptions=True
            )

    def unheard(self) -> STTError | None:
        """Why the newest user turn has no words, if it is a spoken turn that failed."""
        newest = self._conversation.newest_user()
        return self._failed.get(newest.id) if newest is not None else None

    def close(self) -> None:
        """Stop every transcription (the session ended)."""
        self._drop_early()
        for task in self._pending:
            task.cancel()

    def reply_after(
        self, reply: Callable[[], AsyncIterator[Any]]
    ) -> Callable[[], AsyncIterator[Any]]:
        """``reply``, started once the turns before it have their words."""

        async def after() -> AsyncIterator[Any]:
            await self.settled()
            if (failure := self.unheard()) is not None:
                raise _no_answer(failure)
            async for event in reply():
                yield event

        return after

    # -- one turn ------------------------------------------------------------------

    async def _transcribe(
        self, item: Item, pcm: bytes, rate: int, early: asyncio.Task[list[str]] | None
    ) -> None:
        try:
            if early is not None:
                for piece in await early:
                    await self._delta(item, piece)
            else:
                samples = await asyncio.to_thread(to_listen_rate, pcm, rate)
                await self._gate(samples)
                async for piece in self._recognise(samples):
                    await self._delta(item, piece)
            item.text = item.text.strip()
            if not _WORD.search(item.text):
                raise NoSpeech(_NO_WORDS)
            await self._completed(item, len(pcm) / 2 / rate)
        except STTError as exc:
            await self._failed_turn(item, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must fail one turn, not the session
            log.exception("transcription of %s failed unexpectedly", item.id)
            failure = STTError(f"The recognizer failed ({type(exc).__name__}).")
            await self._failed_turn(item, failure)

    async def _words(self, pcm: bytes, rate: int) -> list[str]:
        # Off the loop: a long turn's resampling takes tens of milliseconds.
        samples = await asyncio.to_thread(to_listen_rate, pcm, rate)
        await self._gate(samples)
        return [piece async for piece in self._recognise(samples)]

    async def _gate(self, samples: Samples) -> None:
        await gate(samples, self._threshold())

    def _recognise(self, samples: Samples) -> AsyncIterator[str]:
        engine = self._engine
        if engine is None:
            raise STTError("Voice input is off on this server.")
        chosen = self._config().transcription
        language = chosen.language or self._language
        return engine.transcribe(samples, language=language, prompt=chosen.prompt or None)

    def _threshold(self) -> float:
        detection = self._config().turn_detection
        return detection.threshold if detection is not None else 0.5

    async def _delta(self, item: Item, piece: str) -> None:
        if not piece:
            return
        item.append(piece)
        await self._send(
            {"type": p.HEARD_DELTA, "item_id": item.id, "content_index": 0, "delta": piece}
        )

    async def _completed(self, item: Item, seconds: float) -> None:
        await self._send(
            {
                "type": p.HEARD_COMPLETED,
                "item_id": item.id,
                "content_index": 0,
                "transcript": item.text,
                "usage": {"type": "duration", "seconds": round(seconds, 3)},
            }
        )
        await self._send(
            {"type": p.ITEM_DONE, "previous_item_id": None, "item": item.as_realtime()}
        )
        self._on_heard(item)

    async def _failed_turn(self, item: Item, exc: STTError) -> None:
        item.text = ""
        self._failed[item.id] = exc
        while len(self._failed) > _FAILURES_KEPT:  # only the newest turn's matters
            del self._failed[next(iter(self._failed))]
        await self._send(
            {
                "type": p.HEARD_FAILED,
                "item_id": item.id,
                "content_index": 0,
                "error": {
                    "type": "transcription_error",
                    "code": exc.code,
                    "message": exc.message,
                    "param": None,
                },
            }
        )
        await self._send(
            {"type": p.ITEM_DONE, "previous_item_id": None, "item": item.as_realtime()}
        )

    def _take_early(self, item_id: str) -> asyncio.Task[list[str]] | None:
        if self._early is None or self._early[0] != item_id:
            self._drop_early()
            return None
        task = self._early[1]
        self._early = None
        return task

    def _drop_early(self) -> None:
        if self._early is not None:
            self._early[1].cancel()
            self._early = None


_NO_WORDS: Final = (
    "No speech was heard in that turn (silence or noise), so nothing was sent to the model."
)


def _no_answer(failure: STTError) -> TalktermError:
    error = TalktermError(f"Nothing to answer: {failure.message}")
    error.code = failure.code
    return error


async def gate(samples: Samples, threshold: float = 0.5) -> None:
    """Raise NoSpeech unless Silero hears enough speech in ``samples`` to be words."""
    heard = await asyncio.to_thread(speech_ms, samples, threshold)
    if heard < MIN_SPEECH_MS:
        raise NoSpeech(_NO_WORDS)


async def heard_words(
    engine: STTProvider, samples: Samples, *, language: str | None, prompt: str | None
) -> AsyncIterator[str]:
    """The words of one whole recording, gated as a spoken turn is (HTTP uses this)."""
    await gate(samples)
    async for piece in engine.transcribe(samples, language=language, prompt=prompt):
        yield piece


def to_listen_rate(pcm: bytes, rate: int) -> Samples:
    """PCM16 at ``rate`` as float32 at the recognizer's 16 kHz (a proper band-limited filter)."""
    samples = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
    return resample(samples, rate, LISTEN_RATE)
