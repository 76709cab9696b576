"""Shared fixtures: a clean environment, the fake upstream, a real server on port 0."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.app import Server
from tests.fakes.llm_upstream import FakeLLM
from tests.helpers.client import Client
from tests.helpers.server import ServerFactory, make_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting or key leaks in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("TALKTERM_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def private_data_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Conversations a test stores go to a tmp dir, never to the machine's own store."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    """A real HTTP server speaking the OpenAI SSE format."""
    async with FakeLLM() as fake:
        yield fake


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
    """A connected test client that takes talkterm's extension events, as the app does."""
    c = await Client.open(server.ws_url, extensions=True)
    yield c
    await c.close()
