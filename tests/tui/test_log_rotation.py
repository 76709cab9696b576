"""The app's log file is size-bounded: it rotates, keeping two old files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tui import cli
from tui.config import Settings


def test_the_log_file_rotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "LOG_MAX_BYTES", 10_000)
    root = logging.getLogger()
    kept = root.handlers[:], root.level
    try:
        path = cli.setup_logging(Settings(log_file=tmp_path / "talkterm.log", log_level="INFO"))
        for n in range(2_000):
            logging.getLogger("talkterm.server").info("refused origin_not_allowed %d", n)
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["talkterm.log", "talkterm.log.1", "talkterm.log.2"]
        assert all((tmp_path / f).stat().st_size <= 10_000 + 200 for f in files)
        assert "1999" in path.read_text()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], _ = kept
        root.setLevel(kept[1])
