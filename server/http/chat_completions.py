"""``POST /v1/chat/completions``: OpenAI's HTTP streaming, with speech.

An ASGI app of its own rather than a framework view: it must hear the client
hang up at any moment (that is how an HTTP client says Stop), and the request's
``receive`` channel is the one place that says so. A watcher task listens on it
for the whole answer and stops the run the instant the connection is gone,
which closes the upstream LLM request and kills synthesis.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from server import protocol as p
from server.errors import TalktermError
from server.http.audio_out import encode_file
from server.http.auth import Authoriser
from server.http.body import BodyBudget, read_body
from server.http.chat_audio import hear_spoken
from server.http.chat_request import MAX_BODY_BYTES, ChatRequest, parse_chat_request
from server.http.chat_stream import ChatRun, Piece
from server.http.errors import Busy, HTTPError, UpstreamFailed
from server.http.stall import ClientGone, ClientStalled, guarded_send
from server.session import admission
from server.session.session import Services

log = logging.getLogger("talkterm.server")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # A proxy must pass each event on at once, not fill a buffer first (nginx honours this).
    (b"x-accel-buffering", b"no"),
]
DONE = b"data: [DONE]\n\n"
# Where a whole spoken answer's base64 audio goes in its JSON body (send_json).
_DATA = "\x00talkterm-audio-data\x00"
_DATA_JSON = json.dumps(_DATA).encode()


class ChatCompletions:
    """The endpoint: authorise, parse, run, and stream or answer whole."""

    def __init__(self, services: Callable[[], Services], authorise: Authoriser, model: str) -> None:
        self._services = services
        self._authorise = authorise
        self._model = model
        self._bodies: BodyBudget | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        services = self._services()
        try:
            self._authorise.check(scope)
            if admission.over_limit(services):
                raise Busy(admission.busy_message(services))
        except HTTPError as exc:
            await send_error(send, exc)
            return
        # A body on its way holds memory as an answer does: counted from its first byte.
        services.http_answers += 1
        try:
            await self._answer(scope, receive, send, services)
        finally:
            services.http_answers -= 1

    async def _answer(self, scope: Scope, receive: Receive, send: Send, services: Services) -> None:
        limits = services.limits
        if self._bodies is None:
            self._bodies = BodyBudget(limits.request_bodies_bytes)
        try:
            raw = await read_body(
                receive, MAX_BODY_BYTES, limits.request_body_timeout, self._bodies
            )
            request = parse_chat_request(raw)
            # input_audio parts: their words are what the LLM is asked.
            request = await hear_spoken(
                request, services.stt, services.stt_problem, services.stt_language
            )
        except HTTPError as exc:
            await send_error(send, exc)
            return
        run = ChatRun(services, request, self._model)
        run.start()
        watcher = asyncio.create_task(_watch(receive, run))
        out = guarded_send(send, scope, services.stall_timeout)
        delivered = gone = stalled = False
        try:
            if request.stream:
                delivered = await _stream(run, out)
            else:
                delivered = await _whole(run, out, limits.whole_audio_s)
        except ClientGone:
            gone = True
        except ClientStalled:
            stalled = True
            log.info(
                "%s: the client read nothing for %g s; connection dropped",
                run.id,
                services.stall_timeout,
            )
        finally:
            gone = gone or watcher.done()  # the watcher ends only at a hang-up
            watcher.cancel()
            run.stop()  # a no-op once the answer is complete
            await asyncio.gather(watcher, return_exceptions=True)
        if gone and not (delivered or stalled):
            log.info("%s: the client hung up mid-answer; the answer was stopped", run.id)


async def _stream(run: ChatRun, send: Send) -> bool:
    """Stream the answer; whether it was delivered whole (or as a whole error)."""
    async with aclosing(run.pieces()) as pieces:
        return await _stream_pieces(run, pieces, send)


async def _stream_pieces(run: ChatRun, pieces: AsyncIterator[Piece], send: Send) -> bool:
    first = await anext(pieces, None)
    if first is None and run.error is not None and not run.cancelled:
        await send_error(send, _failure(run.error))
        return True
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    await _event(send, run.chunk(run.first_delta()))
    if first is not None:
        await _event(send, run.chunk(run.delta(first)))
    async for piece in pieces:
        await _event(send, run.chunk(run.delta(piece)))
    if run.cancelled:
        return False
    if run.error is not None:
        # Inside a started stream the status is spent: the error travels as an event,
        # which the openai SDK raises as APIError.
        await _event(send, _failure(run.error).body())
    else:
        await _event(send, run.chunk(run.last_delta(), finish=run.finish_reason))
        if run.request.include_usage:
            await _event(send, run.usage_chunk())
        await send({"type": "http.response.body", "body": DONE, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return True


async def _whole(run: ChatRun, send: Send, max_audio_s: float) -> bool:
    """Answer with one body; whether it was sent."""
    texts: list[str] = []
    audio = bytearray()
    # Built whole, so bounded: a longer spoken answer stops here, as a token cap would.
    cap = int(max_audio_s * p.PCM_RATE) * p.PCM_SAMPLE_WIDTH
    async with aclosing(run.pieces()) as pieces:
        async for piece in pieces:
            if isinstance(piece, bytes):
                audio += piece
                if len(audio) >= cap:
                    break
            elif isinstance(piece, str):
                texts.append(piece)
            # Built whole, so held: counted in the memory budget like a stream's outbox.
            run.held.grow(len(piece) if isinstance(piece, str | bytes) else 0)
    cut = len(audio) >= cap
    if cut:
        run.stop()
        log.info("%s: spoken answer cut at %g s (whole_audio_s)", run.id, max_audio_s)
    elif run.cancelled:
        return False
    if run.error is not None and not cut:
        await send_error(send, _failure(run.error))
        return True
    data = None
    if run.request.audio:
        del audio[cap:]
        try:
            data = base64.b64encode(await encode_file(bytes(audio), run.request.audio_format))
        except TalktermError as exc:  # e.g. ffmpeg missing for mp3/opus
            await send_error(send, UpstreamFailed(exc))
            return True
    del audio
    body = _completion(run, "".join(texts), "length" if cut else run.finish_reason)
    await send_json(send, 200, body, data=data)
    return True


def _completion(run: ChatRun, text: str, finish: str) -> dict[str, Any]:
    """The chat.completion object; a spoken answer's audio data is left for send_json."""
    request: ChatRequest = run.request
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if run.tool_calls:
        message["tool_calls"] = run.tool_calls
        message["content"] = text or None
    if request.audio:
        message["content"] = None
        message["audio"] = run.last_delta()["audio"] | {"data": _DATA, "transcript": text}
    return {
        "id": run.id,
        "object": "chat.completion",
        "created": run.created,
        "model": run.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": run.usage,
    }


def _failure(error: TalktermError) -> HTTPError:
    """The error answer for a failed run: its own (the memory budget's 503), else the
    upstream's failure as OpenAI would number it."""
    return error if isinstance(error, HTTPError) else UpstreamFailed(error)


async def _watch(receive: Receive, run: ChatRun) -> None:
    """Stop the run the moment the client hangs up (uvicorn reports it at connection_lost)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    run.stop()


async def _event(send: Send, body: dict[str, Any]) -> None:
    data = b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def send_json(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    data: bytes | None = None,
) -> None:
    """A complete JSON answer; ``data`` (base64) goes where the body says ``_DATA``, sent
    as it is rather than copied into one string (a spoken answer is megabytes)."""
    encoded = json.dumps(body, separators=(",", ":")).encode()
    head = [(b"content-type", b"application/json"), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    if data is not None:
        before, _, after = encoded.partition(_DATA_JSON)
        await send({"type": "http.response.body", "body": before + b'"', "more_body": True})
        await send({"type": "http.response.body", "body": data, "more_body": True})
        encoded = b'"' + after
    await send({"type": "http.response.body", "body": encoded, "more_body": False})


async def send_error(send: Send, exc: HTTPError) -> None:
    """An OpenAI-shaped error answer."""
    headers = [(name.lower().encode(), value.encode()) for name, value in exc.headers().items()]
    await send_json(send, exc.status, exc.body(), headers)
