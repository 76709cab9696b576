"""``talkterm-server``: parse flags, start the server, print the ready line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import secrets
import signal
import sys
from typing import TYPE_CHECKING, Any, get_args

from pydantic import SecretStr, ValidationError

from server.config import Settings, STTName, TTSName, check_binding
from server.errors import HAProxyMissing, HAProxyRefused, InsecureBinding, WorkerFailed
from server.http.refusal_log import BoundedRefusals
from server.listen.languages import language_problem
from server.log_scrub import SecretScrubber

if TYPE_CHECKING:
    from server.app import Server


def build_parser() -> argparse.ArgumentParser:
    """The command line; every flag also has a TALKTERM_… environment variable."""
    parser = argparse.ArgumentParser(
        prog="talkterm-server",
        description="The talkterm companion server: streams LLM text and speech over WebSocket "
        "(OpenAI Realtime-compatible) at ws://HOST:PORT/v1/realtime. API keys are read from "
        "the environment only: TALKTERM_LLM_API_KEY (else OPENAI_API_KEY), "
        "TALKTERM_TTS_API_KEY and TALKTERM_STT_API_KEY (each else OPENAI_API_KEY).",
    )
    add = parser.add_argument
    add("--host", help="address to bind (default 127.0.0.1; others need --token) [TALKTERM_HOST]")
    add("--port", type=int, help="TCP port, 0 for any free one (default 8765) [TALKTERM_PORT]")
    add(
        "--token",
        help="bearer token clients must send (default: a random one, printed in the ready "
        "line) [TALKTERM_TOKEN]",
    )
    add(
        "--no-token",
        dest="token",
        action="store_const",
        const="",
        help="no token: any program of any user on this machine may connect (loopback "
        "only) [TALKTERM_TOKEN=]",
    )
    add(
        "--allowed-hosts",
        help="comma-separated host names requests may use besides this machine's own, "
        "e.g. a proxy's name [TALKTERM_ALLOWED_HOSTS]",
    )
    add(
        "--allowed-origins",
        help="comma-separated web page origins allowed to connect (default none) "
        "[TALKTERM_ALLOWED_ORIGINS]",
    )
    add(
        "--llm-base-url",
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1 [TALKTERM_LLM_BASE_URL]",
    )
    add("--llm-model", help="model name [TALKTERM_LLM_MODEL]")
    add(
        "--tts",
        choices=get_args(TTSName),
        help="speech engine (default piper; espeak-ng if Piper cannot load) [TALKTERM_TTS]",
    )
    add(
        "--voice",
        help="voice, e.g. en_US-joe-medium for piper, en-us for espeak, alloy for openai "
        "[TALKTERM_VOICE]",
    )
    add("--speed", type=float, help="speaking speed 0.25-1.5 (default 1) [TALKTERM_SPEED]")
    add(
        "--language-voices",
        help="voice per language over the automatic choice, e.g. cmn=cmn,ru=ru_RU-irina-medium "
        "[TALKTERM_LANGUAGE_VOICES]",
    )
    add("--tts-base-url", help="speech endpoint base URL for --tts openai [TALKTERM_TTS_BASE_URL]")
    add(
        "--stt",
        choices=get_args(STTName),
        help="speech recognizer for voice input (default faster-whisper, offline; none turns "
        "voice input off) [TALKTERM_STT]",
    )
    add(
        "--stt-base-url",
        help="transcription endpoint base URL for --stt openai [TALKTERM_STT_BASE_URL]",
    )
    add("--log-level", help="DEBUG, INFO, WARNING… (default INFO) [TALKTERM_LOG_LEVEL]")
    add(
        "--workers",
        type=int,
        help="worker processes behind HAProxy on --host/--port (default 1: no HAProxy; "
        "docs/scaling.md) [TALKTERM_WORKERS]",
    )
    add(
        "--worker-id",
        help="run as a worker behind a front you run yourself: this id (a-z, 0-9) goes into "
        "session ids for HAProxy to route resumes by; SIGTERM drains [TALKTERM_WORKER_ID]",
    )
    add(
        "--front-host",
        help="the address clients dial when HAProxy fronts this worker [TALKTERM_FRONT_HOST]",
    )
    add(
        "--drain-grace",
        type=float,
        help="seconds a draining worker lets answers finish (default 30) [TALKTERM_DRAIN_GRACE]",
    )
    return parser


def load_settings(argv: list[str] | None) -> Settings:
    """Flags over environment over defaults."""
    args = build_parser().parse_args(argv)
    given: dict[str, Any] = {k: v for k, v in vars(args).items() if v is not None}
    return Settings(**given)


def made_up_token(settings: Settings) -> str | None:
    """A random token when none is given (as Jupyter does), else None: a server started
    by hand is then not open to every local user; the ready line says what it is."""
    if settings.token is not None:
        return None
    token = secrets.token_urlsafe(24)
    settings.token = SecretStr(token)
    return token


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``talkterm-server`` and ``python -m server``."""
    try:
        settings = load_settings(argv)
    except ValidationError as exc:
        print(f"talkterm-server: invalid setting: {exc}", file=sys.stderr)
        return 2
    language = settings.stt.language
    if language and (problem := language_problem(language)) is not None:
        print(f"talkterm-server: invalid setting: stt language: {problem}", file=sys.stderr)
        return 2
    token = made_up_token(settings)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SecretScrubber(_secrets(settings)))
    handler.addFilter(BoundedRefusals())  # a client refused in a loop must not fill the log
    who = f" {settings.worker_id}" if settings.worker_id else ""  # whose line, among workers
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s{who} %(levelname)s %(name)s: %(message)s",
        handlers=[handler],
    )
    try:
        if settings.workers > 1:
            check_binding(settings)
            from server.scale import supervisor

            given = list(sys.argv[1:] if argv is None else argv)
            asyncio.run(supervisor.serve(settings, given, token))
        else:
            asyncio.run(_serve(settings, token))
    except (InsecureBinding, HAProxyMissing, HAProxyRefused, WorkerFailed) as exc:
        print(f"talkterm-server: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"talkterm-server: cannot listen on {settings.host}:{settings.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


def tune_gc() -> None:
    """Fewer, cheaper collections: with hundreds of streaming sessions the default
    thresholds ran a collection every few milliseconds, and those pauses set the
    latency tail (docs/benchmarks.md: relay p99 54–72 ms before, ≈ 20 ms after)."""
    gc.collect()
    gc.freeze()  # start-up objects never become garbage: stop scanning them
    gc.set_threshold(50_000, 50, 1_000)


def _secrets(settings: Settings) -> list[str]:
    values = (
        settings.token,
        settings.llm.api_key,
        settings.openai_api_key,
        settings.tts.openai.api_key,
        settings.stt.openai.api_key,
    )
    return [v.get_secret_value() for v in values if v is not None]


def _speaker(server: Server) -> dict[str, str | None]:
    """The engine and voice that will speak, for the ready line."""
    tts = server.services.tts if server.services else None
    stt = server.services.stt if server.services else None
    return {
        "tts": tts.name if tts else "none",
        "voice": tts.voice if tts else None,
        # The recognizer loads after this line; session.created says when it cannot listen.
        "stt": stt.name if stt else "none",
    }


async def _serve(settings: Settings, token: str | None) -> None:
    from server.app import Server  # heavy imports only once flags are valid

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Server(settings) as server:
        ready = {
            "listening": server.ws_url,
            # The same port's HTTP API: an OpenAI base URL (/chat/completions, /models).
            "http": server.http_url + "/v1",
            "healthz": server.http_url + "/healthz",
            "pid": os.getpid(),
            # What is speaking, so a user (and a bug report) can tell.
            **_speaker(server),
            # Only a made-up token: one given by the user is not echoed.
            **({"token": token} if token else {}),
        }
        tune_gc()
        # One JSON line on stdout: what scripts and the terminal app wait for.
        print(json.dumps(ready), flush=True)
        logging.getLogger("talkterm.server").info(
            "listening on %s and %s", server.ws_url, ready["http"]
        )
        await stop.wait()
        if settings.worker_id is not None and server.services is not None:
            from server.scale.drain import drain

            await drain(server.services, settings.drain_grace)
        logging.getLogger("talkterm.server").info("shutting down")
