"""Every error of the server, in one tree; most become ``error`` events.

    TalktermError                 code + plain-words message, safe to show a user
    ├── ProtocolError             a frame that breaks the wire protocol (code per case)
    ├── ResumeRefused             a resume the server can no longer honour (code per case)
    ├── InsecureBinding           listening off loopback without a token (refused at start)
    ├── HAProxyMissing            --workers without HAProxy installed (refused at start)
    ├── HAProxyRefused            its configuration could not be made or HAProxy refused it
    ├── WorkerFailed              a --workers worker that never became ready (refused at start)
    ├── SessionLimit              the server is full (a connection that raced the handshake check)
    ├── HTTPError                 an HTTP endpoint's error answer (server/http/errors.py)
    ├── UpstreamError             the LLM endpoint failed
    │   ├── UpstreamUnreachable   connection refused / DNS / TLS
    │   ├── UpstreamAuthError     401 / 403
    │   ├── UpstreamNotFound      404 (usually a wrong model name or base URL)
    │   ├── UpstreamRateLimited   429, with retry_after seconds when given
    │   ├── UpstreamServerError   5xx
    │   ├── UpstreamTimeout       no chunk within the read timeout
    │   ├── UpstreamProtocolError a cut stream, malformed SSE, a JSON error body
    │   └── ContextOverflow       the conversation does not fit the model's context
    └── TTSError                  speech synthesis failed
        └── TTSUnavailable        the engine is missing (e.g. no espeak-ng)

Messages never carry API keys: upstream bodies are trimmed and scrubbed.
This module imports nothing, so the terminal app may load it with ``server.protocol``.
"""

from __future__ import annotations


class TalktermError(Exception):
    """Base error: a stable ``code`` and a message a person can act on."""

    code = "server_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProtocolError(TalktermError):
    """A frame that breaks the protocol; becomes an ``error`` naming the event and field."""

    code = "invalid_request_error"

    def __init__(
        self,
        code: str,
        message: str,
        *,
        param: str | None = None,
        event_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.param = param
        self.event_id = event_id


class HAProxyMissing(TalktermError):
    """``--workers`` needs HAProxy in front of the workers, and it is not installed."""

    code = "haproxy_missing"


class HAProxyRefused(TalktermError):
    """``--workers``: the HAProxy configuration could not be rendered, or HAProxy refused it."""

    code = "haproxy_refused"


class WorkerFailed(TalktermError):
    """A worker of ``--workers`` exited, or said nothing, before its ready line."""

    code = "worker_failed"


class ResumeRefused(TalktermError):
    """A client asked to resume from a point the server can no longer replay."""

    code = "resume_refused"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InsecureBinding(TalktermError):
    """Refuse to listen off loopback without a token."""

    code = "insecure_binding"


class SessionLimit(TalktermError):
    """A connection that raced past the handshake check found the server full (closed 1013)."""

    code = "session_limit"


class UpstreamError(TalktermError):
    """The LLM endpoint failed."""

    code = "upstream_error"


class UpstreamUnreachable(UpstreamError):
    """The LLM endpoint refused or could not be reached."""

    code = "upstream_unreachable"


class UpstreamAuthError(UpstreamError):
    """The LLM endpoint rejected the API key."""

    code = "upstream_auth_failed"


class UpstreamNotFound(UpstreamError):
    """The LLM endpoint answered 404: wrong model or base URL."""

    code = "upstream_not_found"


class UpstreamRateLimited(UpstreamError):
    """The LLM endpoint answered 429."""

    code = "upstream_rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamServerError(UpstreamError):
    """The LLM endpoint answered 5xx."""

    code = "upstream_server_error"


class UpstreamTimeout(UpstreamError):
    """The LLM endpoint sent nothing within the read timeout."""

    code = "upstream_timeout"


class UpstreamProtocolError(UpstreamError):
    """The LLM stream was cut, malformed, or an error body came instead.

    ``cut_after`` is the characters of text received when the stream was cut, else None.
    """

    code = "upstream_protocol_error"

    def __init__(self, message: str, *, cut_after: int | None = None) -> None:
        super().__init__(message)
        self.cut_after = cut_after


class ContextOverflow(UpstreamError):
    """The conversation (or its newest message alone) does not fit the model's context."""

    code = "context_length_exceeded"

    def __init__(self, message: str, window: int | None = None) -> None:
        super().__init__(message)
        self.window = window


class TTSError(TalktermError):
    """Speech synthesis failed."""

    code = "tts_failed"


class TTSUnavailable(TTSError):
    """The speech engine is not installed or not reachable."""

    code = "tts_unavailable"
