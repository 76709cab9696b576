"""The bearer-token check both transports share."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from server.http.errors import BadRequest, Unauthorised


def bearer_ok(header: str, token: str) -> bool:
    """Whether an Authorization header carries ``token`` (always, when no token is set)."""
    if not token:
        return True
    scheme, _, given = header.partition(" ")
    # compare_digest: the time taken must not reveal how much of the token matched.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


class Authoriser:
    """Checks ASGI requests against the server's token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def check(self, scope: Mapping[str, Any]) -> None:
        """Raise Unauthorised unless the request carries the token."""
        given = [v.decode("latin-1") for n, v in scope.get("headers", []) if n == b"authorization"]
        if len(given) > 1:
            # As the WebSocket handshake does: which one is meant cannot be told.
            raise BadRequest(
                "Send one Authorization header, not several.",
                code="invalid_request",
                param="Authorization",
            )
        if not bearer_ok(given[0] if given else "", self._token):
            raise Unauthorised(
                "Incorrect API key provided. Send the server's token as "
                "'Authorization: Bearer TOKEN'.",
                code="invalid_api_key",
            )
