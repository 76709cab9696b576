"""A real headless Chromium on a page from another loopback origin tries every way in:
WebSocket, fetch (CORS and no-cors), form POSTs, and a rebound host name. The server has
no token (the weakest configuration); every attempt must be refused and the page must
learn nothing. The same page against a server told to allow every page and host shows
that the page would notice a way in."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply
from tests.helpers.browser import AttackSite, chromium, chromium_binary, page_path
from tests.helpers.server import ServerFactory

pytestmark = pytest.mark.skipif(
    chromium_binary() is None and not os.environ.get("CI"), reason="needs chromium"
)


async def attack(server: Server) -> tuple[dict[str, Any], AttackSite]:
    """Let the page try; its findings and what its rebinding server saw."""
    page = page_path().read_text().replace("TARGET", f"127.0.0.1:{server.port}")
    async with AttackSite(page, server.port) as site, chromium(site.origin + "/"):
        findings = await asyncio.wait_for(site.findings, 60)
    return findings, site


async def test_a_web_page_gets_nothing(start_server: ServerFactory, fake_llm: FakeLLM) -> None:
    server = await start_server()
    fake_llm.enqueue(*[Reply(chunks=["leaked answer"]) for _ in range(8)])
    findings, site = await attack(server)
    said = json.dumps(findings)
    for name in ("ws_cross", "ws_rebound"):
        assert "events" in findings[name] or "thrown" in findings[name], findings[name]
        assert not any(
            e in ("open",) or e.startswith("message") for e in findings[name].get("events", [])
        ), findings[name]
    # Cross-origin fetches fail or come back opaque; nothing readable.
    for name in ("get_models_cors", "post_plain_nocors", "post_json_cors"):
        found = findings[name]
        assert "thrown" in found or (found["status"] == 0 and found["text"] == ""), found
    # Through the rebound name the page reads only our refusal.
    assert findings["get_models_rebound"]["status"] == 403
    assert findings["post_json_rebound"]["status"] == 403
    assert site.forwarded_statuses and set(site.forwarded_statuses) == {403}
    for secret in ("fake-model", "leaked answer", "session.created", "instructions"):
        assert secret not in said
    # The forms were sent too; none reached the LLM, no session was opened.
    await asyncio.sleep(1)
    assert not fake_llm.chat_requests
    assert server.services is not None and not server.services.sessions


async def test_the_page_would_notice_an_open_server(
    start_server: ServerFactory, fake_llm: FakeLLM
) -> None:
    server = await start_server(allowed_origins="*", allowed_hosts="*")
    findings, _ = await attack(server)
    assert "open" in findings["ws_cross"]["events"]
    assert any(
        e.startswith("message") and "session.created" in e for e in findings["ws_cross"]["events"]
    )
    assert findings["get_models_rebound"]["status"] == 200
    assert "fake-model" in findings["get_models_rebound"]["text"]
