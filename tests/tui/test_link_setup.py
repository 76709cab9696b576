"""make_link builds one verifying TLS context, and every link it makes (both halves of the
hybrid, the fallback's HTTP links) uses that one: no https:// request builds its own."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from tui.config import Settings
from tui.link.fallback import FallbackLink, HttpOnlyLink
from tui.link.hybrid import HybridLink
from tui.link.setup import make_link
from tui.link.websocket import Connection


def _contexts(link: Any) -> list[ssl.SSLContext | None]:
    """Every TLS context the link and its parts would use."""
    if isinstance(link, HybridLink):
        return [link.first._tls, *_contexts(link.later)]
    if isinstance(link, FallbackLink):
        return [link.ws.tls, link._tls]
    if isinstance(link, HttpOnlyLink):
        return [link._tls, link.http._tls]
    assert isinstance(link, Connection)
    return [link.tls]


@pytest.mark.parametrize("transport", ["auto", "websocket", "http", "hybrid"])
def test_every_link_shares_one_verifying_context(transport: str) -> None:
    settings = Settings(server="https://example.invalid", transport=transport)
    contexts = _contexts(make_link(settings, lambda message: None))
    first = contexts[0]
    assert isinstance(first, ssl.SSLContext)
    assert all(c is first for c in contexts), contexts
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname

