"""The companion server: WebSocket at /v1/realtime and HTTP (/v1/chat/completions,
/v1/models, /healthz) on one port (server/http/front.py)."""

from __future__ import annotations

import asyncio
import http
import logging
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from server import protocol as p
from server.config import Settings, check_binding
from server.errors import ResumeRefused, SessionLimit, TalktermError
from server.http.auth import bearer_ok
from server.http.front import Front, WSOptions
from server.http.guard import Guard, GuardedApp
from server.http.refusal_log import RefusalLog
from server.http.routes import build_app
from server.listen import stt_from_settings
from server.listen import vad as silero
from server.llm.setup import choose_llm
from server.session import admission
from server.session.frames import TextKeepingConnection
from server.session.session import Services, Session
from server.speech.setup import choose_tts, default_voice
from server.speech.slots import SynthesisSlots

log = logging.getLogger("talkterm.server")

ENDPOINT = "/v1/realtime"
MODELS_WAIT_S = 0.5
"""How long start-up waits for the upstream's model list before listening anyway."""


class Server:
    """Owns the listening socket, the shared upstream clients and all sessions."""

    def __init__(self, settings: Settings) -> None:
        check_binding(settings)
        self.settings = settings
        self.services: Services | None = None
        self._front: Front | None = None
        self._loading: asyncio.Task[None] | None = None
        self._listing: asyncio.Task[None] | None = None
        # Behind a front (HAProxy), requests name the front's address, as if it were ours.
        bound = settings.front_host or settings.host
        self._guard = Guard(bound, settings.allowed_hosts, settings.allowed_origins)
        self._refusals = RefusalLog()

    @property
    def port(self) -> int:
        """The bound TCP port (useful with port 0)."""
        assert self._front is not None
        return int(self._front.sockets[0].getsockname()[1])

    @property
    def ws_url(self) -> str:
        """The WebSocket URL clients connect to."""
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{self.port}{ENDPOINT}"

    @property
    def http_url(self) -> str:
        """Base HTTP URL (for /healthz)."""
        return self.ws_url.replace("ws://", "http://", 1).removesuffix(ENDPOINT)

    async def start(self) -> None:
        """Resolve the upstreams and start listening."""
        self.services = await build_services(self.settings)
        s = self.settings
        services = self.services
        # Listed in the background (bounded by discovery's deadline), waited for briefly:
        # sessions opened in the first moments usually still see the list.
        self._listing = asyncio.create_task(list_models(services), name="model list")
        await asyncio.wait({self._listing}, timeout=MODELS_WAIT_S)
        self._front = Front(
            app=GuardedApp(
                build_app(
                    services=lambda: services,
                    token=self._token(),
                    model=getattr(services.llm, "model", None) or "talkterm",
                    realtime_path=ENDPOINT,
                ),
                self._guard,
                self._refusals,
            ),
            handler=self._handle,
            process_request=self._process_request,
            options=WSOptions(
                max_size=s.max_frame_bytes,
                ping_interval=s.ping_interval,
                ping_timeout=s.ping_timeout,
                close_timeout=s.close_timeout,
                # No permessage-deflate (Front offers none): PCM barely compresses (28 %)
                # and deflate took a quarter of the server's CPU (docs/reliability.md).
                connection_class=TextKeepingConnection.factory(
                    s.limits.unfinished_message_timeout
                ),
            ),
        )
        await self._front.start(s.host, s.port)
        # After the ready line (this task first runs once the caller prints it): the
        # recognizer takes ~0.6 s to load, and a turn committed meanwhile waits for it.
        self._loading = asyncio.create_task(self._load_listening())

    async def _load_listening(self) -> None:
        services = self.services
        if services is None or services.stt is None:
            return
        try:
            await asyncio.to_thread(silero.load)
        except TalktermError as exc:
            services.stt_problem = f"Voice input is unavailable: {exc.message}"
            log.warning(services.stt_problem)
            return
        await services.stt.load()
        if (problem := services.stt.problem()) is not None:
            services.stt_problem = f"Voice input is unavailable: {problem}."
            log.warning(services.stt_problem)
        else:
            log.info("listening with %s", services.stt.label)

    async def listening_ready(self) -> None:
        """Wait until the recognizer is loaded (or has failed to)."""
        if self._loading is not None:
            await asyncio.shield(self._loading)

    async def close(self) -> None:
        """Stop listening, cancel in-flight responses, close upstream clients."""
        if self.services is not None:
            self.services.closing = True  # no grace period: nobody will resume
        if self._listing is not None:
            self._listing.cancel()
        if self._front is not None:
            await self._front.close()
        if self.services is not None:
            for session in list(self.services.sessions.values()):
                await session.expire()
            await self.services.llm.aclose()
            if self.services.tts is not None:
                await self.services.tts.aclose()
            if self._loading is not None:
                await asyncio.gather(self._loading, return_exceptions=True)
            if self.services.stt is not None:
                await self.services.stt.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if (refused := self._page_refusal(connection, request)) is not None:
            return refused
        if path == "/healthz":
            return healthz(connection, self.services)
        if path.rstrip("/") != ENDPOINT:
            return connection.respond(
                http.HTTPStatus.NOT_FOUND, f"Not found. The WebSocket endpoint is {ENDPOINT}.\n"
            )
        given = request.headers.get_all("Authorization")
        if len(given) > 1:
            # headers.get() raised on this, which websockets answered with 500 and a traceback.
            return connection.respond(
                http.HTTPStatus.BAD_REQUEST, "Send one Authorization header, not several.\n"
            )
        if not self._authorised(given[0] if given else ""):
            response = connection.respond(
                http.HTTPStatus.UNAUTHORIZED, "Missing or wrong bearer token.\n"
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="talkterm"'
            return response
        assert self.services is not None
        if (full := admission.refusal(self.services, request.path)) is not None:
            response = connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, full + "\n")
            response.headers["Retry-After"] = str(admission.RETRY_AFTER_S)
            return response
        return None

    def _page_refusal(self, connection: ServerConnection, request: Request) -> Response | None:
        """403 for a handshake from a web page or a rebound host name (server/http/guard.py)."""
        origins = request.headers.get_all("Origin")
        origin = next((o for o in origins if not self._guard.origin_ok(o)), None)
        hosts = request.headers.get_all("Host")
        refusal = self._guard.check(hosts[0] if len(hosts) == 1 else None, origin)
        if refusal is None:
            return None
        self._refusals.note(refusal.code, f"WebSocket {urlsplit(request.path).path[:200]}")
        return connection.respond(http.HTTPStatus(refusal.status), refusal.message + "\n")

    def _authorised(self, header: str) -> bool:
        return bearer_ok(header, self._token())

    def _token(self) -> str:
        return self.settings.token.get_secret_value() if self.settings.token else ""

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            session = await self._session_for(ws)
        except SessionLimit:
            return
        await session.serve(ws)

    async def _session_for(self, ws: ServerConnection) -> Session:
        """Resume the session the client names, or start a new one (saying why)."""
        services = self.services
        assert services is not None and ws.request is not None
        refusal: ResumeRefused | None = None
        try:
            wanted = resume_request(ws.request.path)
        except ResumeRefused as exc:
            wanted, refusal = None, exc
        if wanted is not None:
            session_id, last_seen = wanted
            session = services.sessions.get(session_id)
            if session is None:
                refusal = ResumeRefused(
                    "resume_unknown_session",
                    f"Session {session_id} cannot be resumed: the server restarted, or the "
                    f"session ended {services.resume_grace:g} s after its connection dropped.",
                )
            else:
                try:
                    await session.resume(ws, last_seen)
                    return session
                except ResumeRefused as exc:
                    # The id alone proves nothing: a refused resume leaves the session
                    # (and whoever owns it) untouched; it expires on its own schedule.
                    refusal = exc
        if admission.over_limit(services):
            message = admission.busy_message(services)
            await ws.close(1013, message)  # 1013: try again later
            raise SessionLimit(message)
        session = Session(services)
        await session.start(ws)
        if refusal is not None:
            message = f"{refusal.message} This is a new session; earlier context is gone."
            await session.send(p.error_event(refusal.code, message, kind="server_error"))
        return session


def healthz(connection: ServerConnection, services: Services | None) -> Response:
    """200 "ok", or 404 while draining: HAProxy's ``http-check disable-on-404`` then sends
    new sessions elsewhere but keeps this worker's connections and resumes."""
    if services is not None and services.draining:
        return connection.respond(http.HTTPStatus.NOT_FOUND, "draining\n")
    return connection.respond(http.HTTPStatus.OK, "ok\n")


def resume_request(path: str) -> tuple[str, int] | None:
    """The (session id, last seq) a connecting client asks to resume, if any."""
    query = parse_qs(urlsplit(path).query)
    session_id = query.get(p.RESUME_SESSION_PARAM, [None])[0]
    if session_id is None:
        return None
    raw_seq = query.get(p.RESUME_SEQ_PARAM, ["0"])[0]
    if not raw_seq.isdigit():
        raise ResumeRefused("resume_invalid_seq", f"{p.RESUME_SEQ_PARAM} must be a whole number.")
    return session_id, int(raw_seq)


async def list_models(services: Services) -> None:
    """The upstream's model list for session.created (a client naming another model asks
    again); whatever /models does, the server starts on time and says so in one line."""
    models = await services.llm.models()
    if models is None:
        log.warning(
            "the LLM endpoint's model list could not be read; sessions will not list models"
        )
    services.models = models or services.models


async def build_services(settings: Settings) -> Services:
    """Pick the LLM and the speech engine every session will share."""
    llm = await choose_llm(settings)
    tts, problem = await choose_tts(settings)
    stt, stt_problem = await stt_from_settings(settings)
    speaking = f"{tts.name} ({tts.voice})" if tts and tts.voice else tts.name if tts else "none"
    log.info("LLM: %s; TTS: %s", llm.label, speaking)
    return Services(
        llm=llm,
        tts=tts,
        tts_problem=problem,
        stt=stt,
        stt_problem=stt_problem,
        stt_language=settings.stt.language,
        max_turn_s=settings.stt.max_turn_s,
        max_upload_bytes=settings.stt.max_upload_bytes,
        voice=default_voice(tts, settings),
        instructions=settings.instructions,
        lookahead=settings.tts.lookahead,
        resume_grace=settings.resume_grace,
        worker_id=settings.worker_id,
        replay_bytes=settings.replay_buffer_bytes,
        max_output_tokens=settings.max_output_tokens,
        context_tokens=settings.context_tokens,
        limits=settings.limits,
        stall_timeout=settings.limits.stalled_write_timeout or settings.ping_timeout,
        synthesis=SynthesisSlots(settings.limits.synthesis_jobs or tts.synthesis_jobs)
        if tts is not None
        else None,
    )
