"""Web pages kept out: the Host, Origin and content-type checks both transports share.

A browser on the same machine is an attacker (docs/security.md): any page it
loads may open a WebSocket to loopback, send "simple" POSTs that need no CORS
preflight, or rebind its own DNS name to 127.0.0.1 and read our answers as
same-origin. Native clients (the app, the openai SDK, curl) send no ``Origin``
and name the address they dialled in ``Host``; a page cannot forge either.
So: a present ``Origin`` must be allowed, ``Host`` must name this machine, and
a POST must say ``application/json`` (which no form and no preflight-free fetch
can send) — except ``/v1/audio/transcriptions``, whose OpenAI shape is a multipart
form: there the Origin check (a page's POST always carries one) and the token stand.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from server.http.refusal_log import RefusalLog

# Names a rebinding page cannot use: loopback by name and by address.
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
ANY = "*"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: the HTTP status, a code and a sentence for the client."""

    status: int
    code: str
    message: str
    close: bool = False
    """Close the connection after answering (what follows may not be read as meant)."""


class Guard:
    """The checks, configured with the bound address and the allow-lists."""

    def __init__(self, bound: str, hosts: Iterable[str] = (), origins: Iterable[str] = ()) -> None:
        self._bound = bound.strip("[]").lower()
        self._hosts = frozenset(h.strip("[]").lower() for h in hosts)
        self._origins = frozenset(normal_origin(o) for o in origins)

    def check(self, host: str | None, origin: str | None) -> Refusal | None:
        """The refusal for a request with these headers, or None to let it through."""
        if host is not None and not self.host_ok(host):
            return Refusal(
                403,
                "host_not_allowed",
                f"Host {host[:100]!r} is not this server's address. A web page that rebound "
                "its name to this machine is refused; to reach the server under another "
                "name, list it in --allowed-hosts.",
            )
        if origin is not None and not self.origin_ok(origin):
            return Refusal(
                403,
                "origin_not_allowed",
                f"Requests from web pages (Origin {origin[:100]!r}) are refused. To let a "
                "page use this server, list its origin in --allowed-origins.",
            )
        return None

    def host_ok(self, host: str) -> bool:
        """Whether a Host header names this machine (or an allowed name)."""
        name = host_name(host)
        if ANY in self._hosts or name in LOCAL_NAMES or name in self._hosts:
            return True
        if name == self._bound and self._bound not in WILDCARDS:
            return True
        # Bound to every interface, the machine's addresses are its names; a rebinding
        # attack needs a DNS name, never an address literal.
        return self._bound in WILDCARDS and _is_address(name)

    def origin_ok(self, origin: str) -> bool:
        """Whether a page from ``origin`` may use the server (none may unless listed)."""
        return ANY in self._origins or normal_origin(origin) in self._origins


def host_name(host: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")  # "localhost." is localhost


def normal_origin(origin: str) -> str:
    """An origin as compared: lower-case, no trailing slash (``null`` stays ``null``)."""
    return origin.strip().lower().rstrip("/")


MULTIPART_PATHS = frozenset({"/v1/audio/transcriptions"})
"""POST routes whose OpenAI shape is ``multipart/form-data``."""


def json_content_type(value: str | None) -> bool:
    """Whether a Content-Type header says JSON (``application/json``, parameters allowed)."""
    return _media_type(value) == "application/json"


def content_type_ok(path: str, value: str | None) -> bool:
    """Whether a POST to ``path`` may carry this Content-Type (JSON; a form where OpenAI's is)."""
    if json_content_type(value):
        return True
    return path in MULTIPART_PATHS and _media_type(value) == "multipart/form-data"


def _media_type(value: str | None) -> str | None:
    return None if value is None else value.partition(";")[0].strip().lower()


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class GuardedApp:
    """ASGI middleware: every HTTP request passes the guard, and a POST must be JSON."""

    def __init__(self, app: ASGIApp, guard: Guard, refusals: RefusalLog) -> None:
        self._app = app
        self._guard = guard
        self._refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a refused request with an OpenAI-shaped error; pass the rest on."""
        if scope["type"] == "http" and (refusal := self._refusal(scope)) is not None:
            self._refusals.note(refusal.code, f"{scope['method']} {scope['path'][:200]}")
            body = {
                "error": {
                    "message": refusal.message,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": refusal.code,
                }
            }
            headers = {"Connection": "close"} if refusal.close else None
            await JSONResponse(body, refusal.status, headers)(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _refusal(self, scope: Scope) -> Refusal | None:
        headers = Headers(scope=scope)
        if "content-length" in headers and "transfer-encoding" in headers:
            # RFC 9112 6.3: a request with both may be read two ways (request smuggling).
            return Refusal(
                400,
                "ambiguous_length",
                "Send Content-Length or Transfer-Encoding, not both.",
                close=True,
            )
        origins = headers.getlist("origin")
        origin = next((o for o in origins if not self._guard.origin_ok(o)), None)
        refusal = self._guard.check(headers.get("host"), origin)
        posted = scope["method"] == "POST"
        path = str(scope.get("path", "")).rstrip("/")
        if refusal is None and posted and not content_type_ok(path, headers.get("content-type")):
            return Refusal(
                415,
                "unsupported_content_type",
                "POST bodies must be sent as Content-Type: application/json.",
            )
        return refusal
