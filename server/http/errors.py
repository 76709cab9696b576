"""Errors of the HTTP endpoints, shaped and numbered as OpenAI's API answers them.

    TalktermError           (server/errors.py)
    └── HTTPError           status + OpenAI ``{"error": {message, type, param, code}}``
        ├── BadRequest      400 invalid_request_error
        ├── Unauthorised    401 invalid_request_error, code invalid_api_key
        ├── NotFound        404 invalid_request_error
        ├── RequestTimeout  408 invalid_request_error: the body did not arrive in time
        ├── Busy            503 server_error: the server is at its session limit
        └── UpstreamFailed  an upstream's TalktermError, with the status OpenAI would give

Upstream failures (``TalktermError``) map onto the status OpenAI would give for
the same trouble: a rate limit stays 429, an unreachable or failing LLM is 502,
a timeout 504, anything else 500.
"""

from __future__ import annotations

from typing import Any

from server.errors import (
    TalktermError,
    UpstreamAuthError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamTimeout,
)


class HTTPError(TalktermError):
    """An error answer: status code and the OpenAI error object."""

    status = 500
    kind = "server_error"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        # OpenAI's body says "code": null when there is none; the tree's code is never empty.
        self.error_code = code
        self.code = code or self.kind
        self.param = param

    def headers(self) -> dict[str, str]:
        """The headers this answer carries besides its JSON content type."""
        return {}

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI sends with this status."""
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.error_code,
            }
        }


class BadRequest(HTTPError):
    """The request body is not a valid Chat Completions request."""

    status = 400
    kind = "invalid_request_error"


class Unauthorised(HTTPError):
    """Missing or wrong bearer token."""

    status = 401
    kind = "invalid_request_error"

    def headers(self) -> dict[str, str]:
        """A 401 names the scheme it wants (RFC 9110)."""
        return {"WWW-Authenticate": 'Bearer realm="talkterm"'}


class NotFound(HTTPError):
    """No such path or model."""

    status = 404
    kind = "invalid_request_error"


class RequestTimeout(HTTPError):
    """408: the request body did not arrive within its deadline; the connection closes."""

    status = 408
    kind = "invalid_request_error"

    def headers(self) -> dict[str, str]:
        """The rest of the body may still be on its way: close rather than read it."""
        return {"Connection": "close"}


class Busy(HTTPError):
    """503: answering this would go past the server's limit of sessions and answers."""

    status = 503
    kind = "server_error"


class UpstreamFailed(HTTPError):
    """The LLM (or speech) upstream failed; the status says how."""

    def __init__(self, exc: TalktermError) -> None:
        super().__init__(exc.message, code=exc.code)
        self.status, self.kind = _upstream_status(exc)


def _upstream_status(exc: TalktermError) -> tuple[int, str]:
    if isinstance(exc, UpstreamRateLimited):
        return 429, "rate_limit_exceeded"
    if isinstance(exc, UpstreamTimeout):
        return 504, "server_error"
    if isinstance(exc, UpstreamAuthError | UpstreamNotFound):
        # Our client's request was fine; our own upstream credentials or URL are not.
        return 502, "server_error"
    if exc.code.startswith("upstream"):
        return 502, "server_error"
    return 500, "server_error"
