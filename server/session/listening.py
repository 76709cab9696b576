"""The session's input side: the ``input_audio_buffer.*`` handlers, barge-in, and the
answer server VAD asks for once a turn's words are in.

A base class of ``Session`` (as the app's bases are), so the session module keeps its
size and the input side its own file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from server import protocol as p
from server.session.input_audio import InputAudio
from server.session.input_config import InputConfig, semantic_notice
from server.session.turns import Turns

if TYPE_CHECKING:
    from server.session.conversation import Conversation, Item
    from server.session.response import ResponseRun
    from server.session.session import Services
    from server.session.session_config import SessionConfig

log = logging.getLogger("talkterm.server")


class Listening:
    """Handlers of the input audio buffer's events, and what a heard turn sets off."""

    services: Services
    config: SessionConfig
    conversation: Conversation
    response: ResponseRun | None
    _lock: asyncio.Lock
    turns: Turns
    input_audio: InputAudio

    async def send(self, event: dict[str, Any]) -> None:  # pragma: no cover - Session's
        """Send one event (the session's outlet)."""
        raise NotImplementedError

    async def on_response_create(self, event: dict[str, Any]) -> None:  # pragma: no cover
        """Start an answer (the session's handler)."""
        raise NotImplementedError

    def _start_listening(self) -> None:
        services = self.services
        self._auto: set[asyncio.Task[None]] = set()
        self.turns = Turns(
            send=self._send_locked,
            conversation=self.conversation,
            engine=services.stt,
            config=lambda: self.config.listening,
            language=services.stt_language,
            on_heard=self._heard,
        )
        self.input_audio = InputAudio(
            send=self._send_locked,
            on_turn=self.turns.commit,
            on_pause=self.turns.early,
            on_speech=self._barge_in,
            budget=services.replay_budget,
            max_turn_s=services.max_turn_s,
            problem=lambda: services.stt_problem,
        )

    async def _send_locked(self, event: dict[str, Any]) -> None:
        async with self._lock:
            await self.send(event)

    async def on_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        """Add audio to the input buffer (server VAD may start or end a turn)."""
        await self.input_audio.append(event, self.config.listening)

    async def on_input_audio_buffer_commit(self, event: dict[str, Any]) -> None:
        """Make the buffered audio a user turn and transcribe it."""
        await self.input_audio.commit(event)

    async def on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        """Drop the buffered audio."""
        await self.input_audio.clear(event)

    async def _listening_changed(self, before: InputConfig, after: InputConfig) -> None:
        """Say how a newly asked semantic_vad is approximated (a notice, not an error)."""
        if (notice := semantic_notice(before, after)) is not None:
            await self._send_locked(p.notice_event(p.SEMANTIC_VAD_APPROXIMATED, notice))

    def _listen_info(self) -> dict[str, Any]:
        """session.created's ``talkterm.listen``: whether this session can take voice."""
        engine, problem = self.services.stt, self.services.stt_problem
        return {
            "available": problem is None,
            "engine": engine.name if engine is not None else "none",
            "model": engine.model if engine is not None else None,
            "problem": problem,
        }

    def _stop_listening(self) -> None:
        self.turns.close()
        self.input_audio.release()
        for task in self._auto:
            task.cancel()

    def _barge_in(self) -> None:
        """The user started speaking over an answer: stop it as OpenAI does."""
        run = self.response
        if run is not None and not run.cancelled:
            log.info("response %s: speech started, cancelling (turn_detected)", run.id)
            run.cancel(reason="turn_detected")

    def _heard(self, _item: Item) -> None:
        """A turn's words are in: with server VAD's create_response, answer them."""
        detection = self.config.listening.turn_detection
        if detection is None or not detection.create_response:
            return
        if self.response is not None and not self.response.cancelled:
            return  # an answer is on its way (the client asked for one itself)
        task = asyncio.create_task(self._respond())
        self._auto.add(task)
        task.add_done_callback(self._auto.discard)

    async def _respond(self) -> None:
        # An answer that started meanwhile answers the turn: a refusal here is no error.
        with contextlib.suppress(p.ProtocolError):
            await self.on_response_create({"type": p.RESPONSE_CREATE})
