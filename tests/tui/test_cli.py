"""The command line: its help, its refusals, and a log that never holds the token."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.helpers.player import FakePlayer
from tests.helpers.server import ServerFactory
from tests.helpers.tui_app import server_app
from tests.helpers.waiting import wait_for
from tui.cli import build_parser, main, setup_logging
from tui.config import Settings


def test_cli_explains_every_option_and_rejects_bad_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = build_parser().format_help()
    for option in ("--server", "--token", "--audio-device", "--list-devices", "--text-only"):
        assert option in text
    # http:// is a server URL too now (HTTP streaming fallback); ftp:// is not.
    assert main(["--server", "ftp://127.0.0.1:1"]) == 2
    assert "ws://, wss://" in capsys.readouterr().err


async def test_the_token_never_reaches_the_log(start_server: ServerFactory, tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    log_path = setup_logging(Settings(log_file=tmp_path / "talkterm.log", log_level="DEBUG"))
    try:
        server = await start_server(tts="none", token="s3cret-token-value")
        app = server_app(server, FakePlayer(), token="s3cret-token-value")
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.link_state == "connected")
    finally:
        root.handlers[0].close()
        root.handlers[:], root.level = saved
    text = log_path.read_text()
    assert "Authorization: Bearer ***" in text  # websockets logs the header at DEBUG…
    assert "s3cret-token-value" not in text  # …but never the token itself
