"""Shared fixtures: a clean environment, the fake upstream, a real server on port 0."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from server.app import Server
from server.config import Settings
from tests.client import Client
from tests.fakes.llm_upstream import FakeLLM

SECRET_KEY = "sk-test-SECRET-4f1c9b7e"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting or key leaks in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("TALKTERM_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)


def make_settings(**overrides: Any) -> Settings:
    """Settings for a test server: loopback, port 0, no probing of real local LLMs."""
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "probe_local": False,
        "read_timeout": 5.0,
        "connect_timeout": 2.0,
        # Tests name their engine; those about Piper ask for it (tests/speech/test_piper.py).
        "tts": "espeak",
    }
    return Settings(**(base | overrides))


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    """A real HTTP server speaking the OpenAI SSE format."""
    async with FakeLLM() as fake:
        yield fake


ServerFactory = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_server(fake_llm: FakeLLM) -> AsyncIterator[ServerFactory]:
    """Start real servers on port 0 wired to the fake upstream; all closed at the end."""
    servers: list[Server] = []

    async def start(**overrides: Any) -> Server:
        overrides.setdefault("llm_base_url", fake_llm.base_url)
        overrides.setdefault("llm_model", "fake-model")
        server = Server(make_settings(**overrides))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def server(start_server: ServerFactory) -> Server:
    """A server with espeak-ng speech."""
    return await start_server()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[Client]:
    """A connected test client."""
    c = await Client.open(server.ws_url)
    yield c
    await c.close()
