"""A server that listens: the real faster-whisper tiny.en and Silero, loaded once ready."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from openai import AsyncOpenAI

from server.app import Server
from tests.helpers.server import ServerFactory

Listener = Callable[..., Awaitable[tuple[Server, AsyncOpenAI]]]


@pytest.fixture
def listening_server(start_server: ServerFactory) -> Listener:
    """Start a server with voice input and an unmodified SDK client for it."""

    async def start(**overrides: Any) -> tuple[Server, AsyncOpenAI]:
        overrides.setdefault("stt", "faster-whisper")
        server = await start_server(token="voice-token", **overrides)
        await server.listening_ready()
        base = server.ws_url.removesuffix("/realtime")
        client = AsyncOpenAI(
            api_key="voice-token",
            websocket_base_url=base,
            base_url=server.http_url + "/v1",
        )
        return server, client

    return start
