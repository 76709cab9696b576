"""Fixtures for the terminal app: real servers (the helpers are in tests/helpers/tui_app.py)."""

from __future__ import annotations

import pytest

from server.app import Server
from tests.helpers.server import ServerFactory


@pytest.fixture
async def speaking_server(start_server: ServerFactory) -> Server:
    """A real server on port 0, wired to the fake LLM, speaking with espeak-ng."""
    return await start_server(tts="espeak", espeak_rate=400)


@pytest.fixture
async def text_server(start_server: ServerFactory) -> Server:
    """A real server on port 0, wired to the fake LLM, with no speech."""
    return await start_server(tts="none")


@pytest.fixture(autouse=True)
def private_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither read nor write the developer's own config file (the settings screen saves)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.delenv("TALKTERM_CONFIG", raising=False)
