"""Through real nginx: HTTP streaming passes a plain proxy_pass; WebSocket needs Upgrade lines."""

from __future__ import annotations

import os

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from server.app import Server
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text
from tests.helpers.client import answer_once
from tests.helpers.nginx import nginx_binary, nginx_proxy
from tests.http.sse import stream_chat

# CI installs nginx-light (scripts/bootstrap.sh): there a missing nginx fails, never skips.
pytestmark = pytest.mark.skipif(
    nginx_binary() is None and not os.environ.get("CI"), reason="needs nginx-light"
)

ANSWER = "Through the proxy. Spoken and shown."
ASK = {
    "model": "x",
    "messages": [{"role": "user", "content": "hi"}],
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "pcm16"},
}


async def test_plain_proxy_streams_http_and_refuses_websocket(
    fake_llm: FakeLLM, server: Server,
) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
    async with nginx_proxy(server.port, "plain") as url:
        got = await stream_chat(url, ASK)
        assert got.status == 200 and got.transcript == ANSWER and got.audio
        assert got.events[-1] == "[DONE]"
        # What a WebSocket client meets behind this proxy: a non-101 answer.
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(url.replace("http", "ws", 1) + "/v1/realtime")
        assert refused.value.response.status_code == 426


async def test_plain_proxy_passes_a_hang_up_on_to_the_upstream(
    fake_llm: FakeLLM, server: Server,
) -> None:
    fake_llm.enqueue(Reply(chunks=["word "] * 2000, delay=0.01))
    async with nginx_proxy(server.port, "plain") as url:
        async with httpx.AsyncClient(timeout=10) as http, http.stream(
            "POST", f"{url}/v1/chat/completions", json=ASK | {"stream": True}
        ) as response:
            async for line in response.aiter_lines():
                if '"data"' in line:
                    break
        await fake_llm.wait_disconnect(timeout=5)


async def test_upgrade_proxy_keeps_websocket_working(fake_llm: FakeLLM, server: Server) -> None:
    fake_llm.enqueue(Reply(chunks=chunk_text(ANSWER)))
    async with nginx_proxy(server.port, "upgrade") as url:
        got = await answer_once(url.replace("http", "ws", 1) + "/v1/realtime", "hi")
    assert got.done["status"] == "completed"
    assert got.text() == ANSWER and got.audio
