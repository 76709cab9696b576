"""``talkterm export``: the stored conversation as Markdown, from the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui.cli import main
from tui.store import NewTurn, Store


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG_DATA_HOME in a tmp dir, with two conversations stored."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with Store(tmp_path / "data" / "talkterm" / "talkterm.db") as store:
        older = store.create_conversation()
        store.append_turn(older, NewTurn("user", "Older question"))
        newer = store.create_conversation()
        store.append_turn(newer, NewTurn("user", "Wie macht man Tee?"))
        store.append_turn(newer, NewTurn("assistant", "Mit heißem Wasser. Und", "stopped", "Mit"))
    return tmp_path / "data"


def test_export_prints_the_last_conversation(
    data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Wie macht man Tee?\n")
    assert "## talkterm" in out and "■ stopped" in out and "Older question" not in out


def test_export_by_id_to_a_file_in_a_subprocess(data_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    talkterm = Path(sys.executable).parent / "talkterm"
    result = subprocess.run(
        [str(talkterm), "export", "1", "-o", str(target)],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert target.read_text(encoding="utf-8").startswith("# Older question\n")


def test_export_of_a_missing_conversation_says_so(
    data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "42"]) == 1
    assert "no conversation 42" in capsys.readouterr().err


def test_export_with_no_conversations_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(["export"]) == 1
    assert "no conversations yet" in capsys.readouterr().err


def test_continue_flag_reaches_the_settings() -> None:
    from tui.cli import build_parser

    args = build_parser().parse_args(["--continue"])
    assert args.continue_last is True and args.command is None
