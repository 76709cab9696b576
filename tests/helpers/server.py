"""A test server: its settings, the type of the ``start_server`` fixture, a raw HTTP GET."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from server.app import Server
from server.config import Settings

SECRET_KEY = "sk-test-SECRET-4f1c9b7e"

ServerFactory = Callable[..., Awaitable[Server]]


def make_settings(**overrides: Any) -> Settings:
    """Settings for a test server: loopback, port 0, no real local LLM (probed or in process)."""
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "probe_local": False,
        # The real local model answers only in the tests about it (tests/llm/test_local_*.py).
        "local_llm": False,
        "read_timeout": 5.0,
        "connect_timeout": 2.0,
        # Tests name their engine; those about Piper ask for it (tests/speech/test_piper.py).
        "tts": "espeak",
        # Most tests never speak to the server: no recognizer to load (tests/listen/ ask for one).
        "stt": "none",
    }
    return Settings(**(base | overrides))


async def http_get(url: str, path: str) -> tuple[int, str]:
    """GET ``path`` from the server behind a ws:// URL; its status and (the start of) its body."""
    host, port = url.removeprefix("ws://").split("/")[0].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    status = (await reader.readline()).decode()
    body = await reader.read(4096)
    writer.close()
    return int(status.split()[1]), body.decode(errors="replace")


def sessions(server: Server) -> list[Any]:
    """The server's live sessions (a dict by id, or a set in older servers)."""
    live = server.services.sessions if server.services else []
    return list(live.values() if isinstance(live, dict) else live)
