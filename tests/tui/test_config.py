"""Settings: flags over environment over the config file, and where that file lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.config import load_settings


def test_flags_win_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'server = "ws://file:1/v1/realtime"\naudio_device = "file"\ntoken = "from-file"\n'
        '[keymap]\nstop = "f8"\n'
    )
    monkeypatch.setenv("TALKTERM_AUDIO_DEVICE", "env")
    settings = load_settings({"server": None}, config)
    assert settings.server == "ws://file:1/v1/realtime"  # file (no flag, no env)
    assert settings.audio_device == "env"  # env over file
    assert settings.keymap == {"stop": "f8"}
    assert "from-file" not in repr(settings) and settings.token_value == "from-file"
    assert load_settings({"audio_device": "flag"}, config).audio_device == "flag"
    assert load_settings({}, tmp_path / "missing.toml").server is None  # defaults


def test_the_config_file_lives_in_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "talkterm").mkdir()
    (tmp_path / "talkterm" / "config.toml").write_text("text_only = true\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    settings = load_settings()
    assert settings.text_only is True
    assert settings.log_path == tmp_path / "state" / "talkterm" / "talkterm.log"
