"""The companion server: a WebSocket endpoint at /v1/realtime and GET /healthz."""

from __future__ import annotations

import asyncio
import hmac
import http
import logging
import shutil
import subprocess
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server as WSServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from server import protocol as p
from server.config import Settings, check_binding, llm_key, tts_key
from server.errors import TalktermError
from server.frames import TextKeepingConnection
from server.llm_setup import resolve_llm
from server.replay import ResumeRefused
from server.session import Services, Session
from server.tts import TTSProvider, make_tts

log = logging.getLogger("talkterm.server")

ENDPOINT = "/v1/realtime"


class Server:
    """Owns the listening socket, the shared upstream clients and all sessions."""

    def __init__(self, settings: Settings) -> None:
        check_binding(settings)
        self.settings = settings
        self.services: Services | None = None
        self._ws: WSServer | None = None

    @property
    def port(self) -> int:
        """The bound TCP port (useful with port 0)."""
        assert self._ws is not None
        return int(self._ws.sockets[0].getsockname()[1])

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
        self._ws = await serve(
            self._handle,
            s.host,
            s.port,
            process_request=self._process_request,
            max_size=s.max_frame_bytes,
            ping_interval=s.ping_interval,
            ping_timeout=s.ping_timeout,
            close_timeout=s.close_timeout,
            server_header="talkterm",
            # No permessage-deflate: PCM barely compresses (28 %) and deflate took a quarter
            # of the server's CPU under load (docs/reliability.md).
            compression=None,
            create_connection=TextKeepingConnection,
        )

    async def close(self) -> None:
        """Stop listening, cancel in-flight responses, close upstream clients."""
        if self.services is not None:
            self.services.closing = True  # no grace period: nobody will resume
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
        if self.services is not None:
            for session in list(self.services.sessions.values()):
                await session.expire()
            await self.services.llm.aclose()
            if self.services.tts is not None:
                await self.services.tts.aclose()

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
        if path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "ok\n")
        if path.rstrip("/") != ENDPOINT:
            return connection.respond(
                http.HTTPStatus.NOT_FOUND, f"Not found. The WebSocket endpoint is {ENDPOINT}.\n"
            )
        if not self._authorised(request.headers.get("Authorization", "")):
            response = connection.respond(
                http.HTTPStatus.UNAUTHORIZED, "Missing or wrong bearer token.\n"
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="talkterm"'
            return response
        return None

    def _authorised(self, header: str) -> bool:
        token = self.settings.token.get_secret_value() if self.settings.token else ""
        if not token:
            return True
        scheme, _, given = header.partition(" ")
        # compare_digest: the time taken must not reveal how much of the token matched.
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )

    async def _handle(self, ws: ServerConnection) -> None:
        session = await self._session_for(ws)
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
                    refusal = exc
                    await session.expire()
        session = Session(services)
        await session.start(ws)
        if refusal is not None:
            message = f"{refusal.message} This is a new session; earlier context is gone."
            await session.send(p.error_event(refusal.code, message, kind="server_error"))
        return session


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


async def build_services(settings: Settings) -> Services:
    """Pick the LLM and the speech engine every session will share."""
    llm = await resolve_llm(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=llm_key(settings),
        openai_api_key=_secret(settings.openai_api_key),
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        ollama_url=settings.ollama_url if settings.probe_local else None,
        llamacpp_url=settings.llamacpp_url if settings.probe_local else None,
    )
    settings, tts, problem = _speech(settings)
    voices = _known_voices(settings, tts)
    engine = f"{tts.name} ({tts.voice})" if tts and tts.voice else tts.name if tts else "none"
    log.info("LLM: %s; TTS: %s", llm.label, engine)
    return Services(
        llm=llm,
        tts=tts,
        tts_name=settings.tts,
        tts_problem=problem,
        voice=settings.voice,
        instructions=settings.instructions,
        lookahead=settings.tts_lookahead,
        voices=voices,
        resume_grace=settings.resume_grace,
        replay_bytes=settings.replay_buffer_bytes,
    )


def _speech(settings: Settings) -> tuple[Settings, TTSProvider | None, str | None]:
    """The engine to use; Piper that cannot load says why and gives way to espeak-ng."""
    if settings.tts != "piper":
        return (settings, *_build_tts(settings))
    try:
        tts = make_tts(
            "piper",
            voice=settings.voice,
            speed=settings.speed,
            voices_dirs=[settings.piper_voices_dir],
        )
        return settings, tts, None
    except TalktermError as exc:
        log.warning("Piper cannot speak (%s); falling back to espeak-ng", exc.message)
    known = espeak_voices(settings.espeak_executable) or frozenset()
    voice = settings.voice if settings.voice in known else None
    fallback = settings.model_copy(update={"tts": "espeak", "voice": voice})
    return (fallback, *_build_tts(fallback))


def _known_voices(settings: Settings, tts: TTSProvider | None) -> frozenset[str] | None:
    if tts is None:
        return None
    if (names := tts.voices()) is not None:
        return frozenset(names)
    return espeak_voices(settings.espeak_executable) if settings.tts == "espeak" else None


def _build_tts(settings: Settings) -> tuple[TTSProvider | None, str | None]:
    if settings.tts == "none":
        return None, None
    if settings.tts == "espeak" and shutil.which(settings.espeak_executable) is None:
        problem = (
            f"{settings.espeak_executable} is not installed, so answers are text only. "
            "Install it (sudo apt install espeak-ng) or start the server with --tts openai."
        )
        log.warning(problem)
        return None, problem
    try:
        if settings.tts == "espeak":
            return make_tts(
                "espeak",
                voice=settings.voice or "en-us",
                # Realtime's speed 1.5 is half as fast again: the rate scales with it.
                rate=round(settings.espeak_rate * settings.speed),
                executable=settings.espeak_executable,
            ), None
        return make_tts(
            "openai",
            base_url=settings.tts_base_url,
            api_key=tts_key(settings),
            model=settings.tts_model,
            voice=settings.voice or "alloy",
            response_format=settings.tts_format,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
        ), None
    except TalktermError as exc:
        return None, exc.message


def espeak_voices(executable: str) -> frozenset[str] | None:
    """Voice names espeak-ng knows (language codes and file names), or None if unknown."""
    try:
        listing = subprocess.run(
            [executable, "--voices"], capture_output=True, text=True, timeout=5, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names: set[str] = set()
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5:
            names.update({fields[1], fields[3], fields[4], fields[4].rsplit("/", 1)[-1]})
    return frozenset(names) or None


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if getter else None


async def serve_forever(server: Server, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set, then close gracefully."""
    async with server:
        await stop.wait()
