"""The HTTP side of the port: health, models, chat completions, and a plain
answer for a WebSocket path reached without an upgrade (a proxy stripped it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from server.http.auth import Authoriser
from server.http.chat_completions import ChatCompletions
from server.http.errors import HTTPError, NotFound
from server.http.transcriptions import Transcriptions
from server.session.session import Services


def build_app(
    *, services: Callable[[], Services], token: str, model: str, realtime_path: str
) -> Starlette:
    """The ASGI app for every request that is not a WebSocket upgrade."""
    authorise = Authoriser(token)

    async def healthz(_: Request) -> Response:
        # 404 while draining: HAProxy's graceful-stop convention (http-check disable-on-404)
        # takes the worker out of rotation but keeps its connections and resumes.
        if services().draining:
            return PlainTextResponse("draining\n", status_code=404)
        return PlainTextResponse("ok\n")

    async def models(request: Request) -> Response:
        try:
            authorise.check(request.scope)
        except HTTPError as exc:
            return _error(exc)
        # The server's own model first (what "talkterm" and unknown names answer with), then
        # every other model the upstream lists: a request may choose one of them.
        listed = [model, *(m for m in services().models or () if m != model)]
        return JSONResponse({"object": "list", "data": [_model(name) for name in listed]})

    async def realtime(_: Request) -> Response:
        # Any non-101 answer tells a client that WebSocket is blocked on this path.
        return PlainTextResponse(
            "This is the WebSocket endpoint; the request arrived without an Upgrade "
            "(a proxy may have removed it). HTTP clients use POST /v1/chat/completions.\n",
            status_code=426,
            headers={"Upgrade": "websocket", "Connection": "Upgrade"},
        )

    async def not_found(request: Request, _: Exception) -> Response:
        return _error(NotFound(
            f"Unknown request URL: {request.method} {request.url.path}. This server has "
            f"{realtime_path} (WebSocket), POST /v1/chat/completions, "
            "POST /v1/audio/transcriptions, GET /v1/models and "
            "GET /healthz.",
            code="unknown_url",
        ))

    routes = [
        Route("/healthz", healthz),
        Route("/v1/models", models),
        Route("/v1/chat/completions", ChatCompletions(services, authorise, model),
              methods=["POST"]),
        Route("/v1/audio/transcriptions", Transcriptions(services, authorise), methods=["POST"]),
        Route(realtime_path, realtime),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "talkterm"}


def _error(exc: HTTPError) -> Response:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())
