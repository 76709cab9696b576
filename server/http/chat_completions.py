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

from server.errors import TalktermError
from server.http.audio_out import encode_file
from server.http.auth import Authoriser
from server.http.chat_audio import hear_spoken
from server.http.chat_request import MAX_BODY_BYTES, ChatRequest, parse_chat_request
from server.http.chat_stream import ChatRun
from server.http.errors import BadRequest, Busy, HTTPError, UpstreamFailed
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


class ChatCompletions:
    """The endpoint: authorise, parse, run, and stream or answer whole."""

    def __init__(self, services: Callable[[], Services], authorise: Authoriser, model: str) -> None:
        self._services = services
        self._authorise = authorise
        self._model = model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        try:
            self._authorise.check(scope)
            request = parse_chat_request(await _body(receive))
            services = self._services()
            request = await hear_spoken(request, services.stt, services.stt_problem)
        except HTTPError as exc:
            await send_error(send, exc)
            return
        if admission.over_limit(services):
            await send_error(send, Busy(admission.full_message(services.limits.max_sessions)))
            return
        services.http_answers += 1
        run = ChatRun(services, request, self._model)
        run.start()
        watcher = asyncio.create_task(_watch(receive, run))
        try:
            if request.stream:
                await _stream(run, send)
            else:
                await _whole(run, send)
        finally:
            services.http_answers -= 1
            watcher.cancel()
            run.stop()  # a no-op once the answer is complete
            await asyncio.gather(watcher, return_exceptions=True)


async def _stream(run: ChatRun, send: Send) -> None:
    async with aclosing(run.pieces()) as pieces:
        await _stream_pieces(run, pieces, send)


async def _stream_pieces(run: ChatRun, pieces: AsyncIterator[str | bytes], send: Send) -> None:
    first = await anext(pieces, None)
    if first is None and run.error is not None and not run.cancelled:
        await send_error(send, UpstreamFailed(run.error))
        return
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    await _event(send, run.chunk(run.first_delta()))
    if first is not None:
        await _event(send, run.chunk(run.delta(first)))
    async for piece in pieces:
        await _event(send, run.chunk(run.delta(piece)))
    if run.cancelled:
        return
    if run.error is not None:
        # Inside a started stream the status is spent: the error travels as an event,
        # which the openai SDK raises as APIError.
        await _event(send, UpstreamFailed(run.error).body())
    else:
        await _event(send, run.chunk(run.last_delta(), finish="stop"))
        if run.request.include_usage:
            await _event(send, run.usage_chunk())
        await send({"type": "http.response.body", "body": DONE, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _whole(run: ChatRun, send: Send) -> None:
    texts: list[str] = []
    audio = bytearray()
    async with aclosing(run.pieces()) as pieces:
        async for piece in pieces:
            if isinstance(piece, bytes):
                audio += piece
            else:
                texts.append(piece)
    if run.cancelled:
        return
    if run.error is not None:
        await send_error(send, UpstreamFailed(run.error))
        return
    try:
        body = await _completion(run, "".join(texts), bytes(audio))
    except TalktermError as exc:  # e.g. ffmpeg missing for mp3/opus
        await send_error(send, UpstreamFailed(exc))
        return
    await send_json(send, 200, body)


async def _completion(run: ChatRun, text: str, audio: bytes) -> dict[str, Any]:
    request: ChatRequest = run.request
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if request.audio:
        data = await encode_file(audio, request.audio_format)
        message["content"] = None
        message["audio"] = run.last_delta()["audio"] | {
            "data": base64.b64encode(data).decode(),
            "transcript": text,
        }
    return {
        "id": run.id,
        "object": "chat.completion",
        "created": run.created,
        "model": run.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": run.usage,
    }


async def _body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client closed the request before its body arrived.")
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            raise BadRequest(f"The request body exceeds {MAX_BODY_BYTES >> 20} MiB.")
        if not message.get("more_body", False):
            return bytes(body)


async def _watch(receive: Receive, run: ChatRun) -> None:
    """Stop the run the moment the client hangs up (uvicorn reports it at connection_lost)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    run.stop()


async def _event(send: Send, body: dict[str, Any]) -> None:
    data = b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A complete JSON answer."""
    data = json.dumps(body, separators=(",", ":")).encode()
    head = [(b"content-type", b"application/json"), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": data, "more_body": False})


async def send_error(send: Send, exc: HTTPError) -> None:
    """An OpenAI-shaped error answer."""
    headers = [(name.lower().encode(), value.encode()) for name, value in exc.headers().items()]
    await send_json(send, exc.status, exc.body(), headers)

