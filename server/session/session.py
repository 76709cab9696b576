"""One session: settings, conversation, responses — and the connection it has now.

Every client frame is handled in turn; anything wrong with it becomes an
``error`` event naming the problem, and the session carries on. When the
connection drops, the session keeps generating for ``resume_grace`` seconds
so a client that reconnects with its session id loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from server import protocol as p
from server.config import LimitsSettings
from server.listen import STTProvider
from server.llm import LLMProvider
from server.session.answer_cap import AnswerCap
from server.session.client_events import (
    bad_event,
    response_instructions,
    response_modality,
)
from server.session.context import ContextBook, SessionContext
from server.session.conversation import Conversation, Item
from server.session.frames import split_frame
from server.session.items import ItemHandlers
from server.session.listening import Listening
from server.session.outbox import Outbox
from server.session.outlet import Outlet
from server.session.replay import ReplayBudget
from server.session.response import ResponseRun
from server.session.response_options import framing, input_messages
from server.session.response_parts import Voice
from server.session.session_choices import language_catalog, language_voices, response_cap
from server.session.session_config import SessionConfig
from server.session.tool_calls import joining, standalone_item
from server.session.tools import response_tools
from server.session.updates import updated_config
from server.speech import TTSProvider, engine_voice
from server.speech.audio_format import make_encoder
from server.speech.slots import SynthesisSlots

log = logging.getLogger("talkterm.server")


@dataclass(slots=True)
class Services:
    """What all sessions share: the upstream clients, defaults and the live sessions."""

    llm: LLMProvider
    tts: TTSProvider | None
    tts_problem: str | None = None
    stt: STTProvider | None = None
    stt_problem: str | None = "Voice input is off on this server (--stt none)."
    stt_language: str | None = None
    max_turn_s: float = 120.0
    max_upload_bytes: int = 25 << 20
    voice: str | None = None
    instructions: str = ""
    lookahead: int = 2
    resume_grace: float = 60.0
    replay_bytes: int = 8 << 20
    max_output_tokens: int | None = 1024
    context_tokens: int | None = None
    models: list[str] | None = None
    """What the upstream lists (asked at start, again when a client names another)."""
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    stall_timeout: float | None = None
    synthesis: SynthesisSlots | None = None
    replay_budget: ReplayBudget = field(init=False)
    closing: bool = False
    draining: bool = False
    """SIGTERM on a worker: no new sessions nor HTTP answers (server/scale/drain.py)."""
    worker_id: str | None = None
    """A worker's id behind HAProxy: in its session ids, by which a resume is routed back."""
    sessions: dict[str, Session] = field(default_factory=dict)
    http_answers: int = 0
    """HTTP Chat Completions answers in progress (they count against the session limit)."""
    _book: ContextBook | None = None

    @property
    def book(self) -> ContextBook:
        """What is known about each model's context, shared by all sessions."""
        if self._book is None:
            self._book = ContextBook(self.llm, self.context_tokens)
        return self._book

    async def refresh_models(self) -> list[str] | None:
        """Ask the upstream for its models again (keeping the old list if it cannot say)."""
        self.models = await self.llm.models() or self.models
        return self.models

    def voice_names(self) -> list[str] | None:
        """The speech engine's voices, sorted; None when any name may work (or no engine)."""
        known = self.tts.voices() if self.tts is not None else None
        return sorted(known) if known is not None else None

    def __post_init__(self) -> None:
        self.replay_budget = ReplayBudget(self.limits.replay_budget_bytes)


class Session(ItemHandlers, Listening):
    """One conversation; outlives its connection by the resume grace period."""

    def __init__(self, services: Services) -> None:
        self.id = p.new_session_id(services.worker_id)
        self.services = services
        self.config = SessionConfig(
            instructions=services.instructions,
            voice=services.voice,
            model=services.llm.model,
            max_output_tokens=services.max_output_tokens,
        )
        limits = services.limits
        self.conversation = Conversation(limits.history_chars, limits.history_items)
        self.context = SessionContext(services.book)
        self.outlet = Outlet(services.replay_bytes, services.stall_timeout, services.replay_budget)
        self.response: ResponseRun | None = None
        self.told: set[str] = set()  # notices given (a language no voice reads), once a session
        self._lock = asyncio.Lock()
        # Runs whose tasks may still be winding down after their response.done.
        self._runs: set[ResponseRun] = set()
        self._expiry: asyncio.TimerHandle | None = None
        self._expiring: asyncio.Task[None] | None = None
        self._start_listening()
        services.sessions[self.id] = self

    async def start(self, ws: ServerConnection) -> None:
        """Greet a new connection as a new session."""
        self.outlet.attach_new(ws)
        await self.send(self._session_event(p.SESSION_CREATED))
        if self.services.tts_problem:
            await self.send(
                p.error_event("tts_unavailable", self.services.tts_problem, kind="server_error")
            )

    async def resume(self, ws: ServerConnection, last_seen: int) -> None:
        """Take over ``ws`` and replay everything after ``last_seen`` (ResumeRefused if gone)."""
        old = self.outlet.ws
        hello = self._session_event(p.SESSION_RESUMED) | {"last_seq": last_seen}
        await self.outlet.attach(ws, last_seen, hello)
        self._cancel_expiry()  # only once resumed: a refused resume changes nothing
        if old is not None and old is not ws:
            await old.close(4001, "resumed on another connection")

    async def serve(self, ws: ServerConnection) -> None:
        """Handle frames from ``ws`` until it closes; then wait for a resume, or end."""
        try:
            async for frame in ws:
                await self.handle(frame)
        except ConnectionClosed:
            pass
        finally:
            self.outlet.detach(ws)
            if self.outlet.ws is None:
                self._schedule_expiry()
                await self.input_audio.dropped()

    async def expire(self) -> None:
        """End the session: cancel what runs, close upstream work, forget it."""
        self._cancel_expiry()
        self.services.sessions.pop(self.id, None)
        self._stop_listening()
        for run in list(self._runs):
            run.cancel()
            await run.wait()
        self.outlet.buffer.release()

    def _schedule_expiry(self) -> None:
        grace = 0.0 if self.services.closing else self.services.resume_grace
        self._cancel_expiry()
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(grace, self._expire_later)

    def _expire_later(self) -> None:
        # Keep a reference: the loop holds tasks only weakly.
        self._expiring = asyncio.get_running_loop().create_task(self.expire())

    def _cancel_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    async def send(self, event: dict[str, Any]) -> None:
        """Send one event (numbered, and kept for a resuming client)."""
        await self.outlet.send(event)

    async def handle(self, frame: str | bytes) -> None:
        """Decode one client frame and act on it."""
        try:
            was_text, frame = split_frame(frame)
            if not was_text:
                raise p.ProtocolError(
                    "binary_not_supported",
                    "Binary frames are not accepted from clients; send events as JSON text.",
                )
            event = p.decode_client_event(frame)
            handler = getattr(self, "on_" + event["type"].replace(".", "_"))
            await handler(event)
        except p.ProtocolError as exc:
            await self._reject(exc)

    async def _reject(self, exc: p.ProtocolError) -> None:
        async with self._lock:
            await self.send(p.error_for(exc))

    # -- handlers, one per client event --------------------------------------

    async def on_session_update(self, event: dict[str, Any]) -> None:
        """Change instructions, modalities, voice, audio format or transport."""
        services = self.services
        config, problems = await updated_config(
            self.config,
            event,
            tts=services.tts,
            llm=services.llm,
            refresh=services.refresh_models,
            stt=services.stt,
        )
        await self._listening_changed(self.config.listening, config.listening)
        self.config = config
        self.outlet.binary_audio = self.config.binary_audio
        self.outlet.extensions = self.config.extensions
        async with self._lock:
            for problem in problems:
                await self.send(p.error_for(problem))
            await self.send(self._session_event(p.SESSION_UPDATED))

    async def on_response_create(self, event: dict[str, Any]) -> None:
        """Start generating an answer to the conversation so far."""
        if self.response is not None and not self.response.cancelled:
            raise bad_event(
                event,
                p.ACTIVE_RESPONSE,
                f"Conversation already has an active response in progress: {self.response.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        self.edit_cancelled = None
        modality = response_modality(event, self.config.modality)
        instructions = response_instructions(event, self.config.instructions)
        cap = response_cap(event, self.config.max_output_tokens)
        frame = framing(event, self.conversation)
        options = response_tools(event, self.config.tools, self.config.tool_choice)
        given = input_messages(event, self.conversation, instructions)
        if frame.in_conversation:
            item = self.conversation.add("assistant", "", status=p.IN_PROGRESS, modality=modality)
        else:  # out of band: an answer the history never holds
            item = Item(p.new_id("item"), "assistant", status=p.IN_PROGRESS, modality=modality)
        fmt = self.config.audio_format
        voice = Voice(
            tts=self.services.tts if modality == "audio" else None,
            name=engine_voice(self.services.tts, self.config.voice),
            encoder=lambda: make_encoder(fmt["type"]),
            format=fmt,
            speed=self.config.speed,
            languages=self.config.language_voices,
            slots=self.services.synthesis,
            owner=self.id,
            told=self.told,
        )
        llm, model = self.services.llm, self.config.model
        limits = self.services.limits
        self.response = ResponseRun(
            send=self.send,
            send_lock=self._lock,
            # Built once the turns before it are heard: a spoken turn's words are asked.
            reply=self.turns.reply_after(
                lambda: self.context.reply(
                    llm,
                    given if given is not None else self.conversation.messages(instructions),
                    model=model,
                    cap=cap,
                    options=options,
                )
            ),
            item=item,
            voice=voice,
            lookahead=self.services.lookahead,
            on_done=self._response_ended,
            outbox=Outbox(limits.response_buffer_bytes, limits.response_buffer_audio_s * 1000),
            outlet=self.outlet,
            cap=AnswerCap(cap, limits.answer_chars),
            framing=frame,
            new_call_item=joining(self.conversation) if frame.in_conversation else standalone_item,
        )
        run = self.response
        self._runs.add(run)
        run.start().add_done_callback(lambda _: self._runs.discard(run))

    async def on_response_cancel(self, event: dict[str, Any]) -> None:
        """Stop the active response at once (one an item edit stopped is already done)."""
        active = self.response
        if (active is None or active.cancelled) and self.cancelled_by_edit(event):
            return
        self._active(event, p.CANCEL_NOT_ACTIVE).cancel()

    async def on_response_pause(self, event: dict[str, Any]) -> None:
        """Hold the active response (talkterm extension)."""
        await self._active(event, p.PAUSE_NOT_ACTIVE).pause()

    async def on_response_resume(self, event: dict[str, Any]) -> None:
        """Release a held response (talkterm extension)."""
        await self._active(event, p.RESUME_NOT_ACTIVE).resume()

    # -- helpers ---------------------------------------------------------------

    def _active(self, event: dict[str, Any], code: str) -> ResponseRun:
        wanted = event.get("response_id")
        if wanted is not None and not isinstance(wanted, str):
            raise bad_event(event, "invalid_type", "response_id must be a string.", "response_id")
        run = self.response
        # A cancelled response is winding down: nothing is left to act on.
        if run is None or run.cancelled or (wanted is not None and wanted != run.id):
            raise bad_event(event, code, "There is no active response to act on.")
        return run

    def _response_ended(self, run: ResponseRun) -> None:
        if self.response is run:
            self.response = None

    def _session_event(self, kind: str) -> dict[str, Any]:
        services = self.services
        return {
            "type": kind,
            "session": self.config.as_realtime(self.id)
            | {
                "talkterm": {
                    "llm": services.llm.label,
                    "demo": services.llm.is_demo,
                    "tts": services.tts.name if services.tts is not None else "none",
                    "voice": services.tts.voice if services.tts is not None else None,
                    "binary_audio": self.config.binary_audio,
                    "extensions": self.config.extensions,
                    "asked_model": self.config.asked_model,
                    "language_voices": language_voices(self.config, services.tts),
                    "languages": language_catalog(self.config, services.tts),
                    "models": services.models,
                    "voices": services.voice_names(),
                    "listen": self._listen_info(),
                    # The process that holds the session (one of several behind HAProxy).
                    "worker": os.getpid(),
                }
            },
        }
