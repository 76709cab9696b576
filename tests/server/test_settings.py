"""The documented names keep working over the nested settings, and say the same thing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.cli import load_settings
from server.config import Settings, llm_key, tts_key

README = Path(__file__).resolve().parents[2] / "README.md"
# A value each documented setting accepts, and where it must land.
SAMPLES = {
    "--host": ("127.0.0.2", lambda s: s.host),
    "--port": ("9", lambda s: str(s.port)),
    "--token": ("tok", lambda s: s.token.get_secret_value()),
    "--llm-base-url": ("http://127.0.0.1:1/v1", lambda s: s.llm.base_url),
    "--llm-model": ("m", lambda s: s.llm.model),
    "--tts": ("openai", lambda s: s.tts.engine),
    "--voice": ("nova", lambda s: s.tts.voice),
    "--speed": ("1.25", lambda s: str(s.tts.speed)),
    "--tts-base-url": ("http://127.0.0.1:2/v1", lambda s: s.tts.openai.base_url),
    "--stt": ("openai", lambda s: s.stt.engine),
    "--stt-base-url": ("http://127.0.0.1:3/v1", lambda s: s.stt.openai.base_url),
    "--allowed-hosts": ("a.test,b.test", lambda s: ",".join(s.allowed_hosts)),
    "--allowed-origins": ("http://a.test,null", lambda s: ",".join(s.allowed_origins)),
    "--language-voices": (
        "cmn=yue,ru=ru",
        lambda s: ",".join(f"{k}={v}" for k, v in s.tts.language_voices.items()),
    ),
    "--workers": ("2", lambda s: str(s.workers)),
    "--worker-id": ("w7", lambda s: s.worker_id),
    "--front-host": ("talk.example", lambda s: s.front_host),
    "--drain-grace": ("12.5", lambda s: str(s.drain_grace)),
}


def readme_rows() -> list[tuple[str, str]]:
    """(flag, environment variable) for every row of the README's server table."""
    return re.findall(r"^\| `(--[a-z-]+)` \| `(TALKTERM_[A-Z_]+)` \|", README.read_text(), re.M)


def test_the_readme_table_is_what_the_code_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = readme_rows()
    assert {flag for flag, _ in rows} == set(SAMPLES)
    for flag, variable in rows:
        value, where = SAMPLES[flag]
        assert where(load_settings([flag, value])) == value, flag
        monkeypatch.setenv(variable, value)
        assert where(load_settings([])) == value, variable
        monkeypatch.delenv(variable)


def test_flags_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALKTERM_TTS", "none")
    monkeypatch.setenv("TALKTERM_VOICE", "en-gb")
    settings = load_settings(["--tts", "espeak"])
    assert settings.tts.engine == "espeak" and settings.tts.voice == "en-gb"


def test_every_engine_setting_by_its_flat_or_nested_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALKTERM_ESPEAK_RATE", "200")
    monkeypatch.setenv("TALKTERM_TTS__ESPEAK__EXECUTABLE", "/opt/espeak-ng")
    monkeypatch.setenv("TALKTERM_TTS_FORMAT", "mp3")
    monkeypatch.setenv("TALKTERM_TTS_LOOKAHEAD", "3")
    monkeypatch.setenv("TALKTERM_PROBE_LOCAL", "false")
    settings = Settings(tts_model="kokoro")
    assert settings.tts.espeak.rate == 200
    assert settings.tts.espeak.executable == "/opt/espeak-ng"
    assert settings.tts.openai.format == "mp3" and settings.tts.openai.model == "kokoro"
    assert settings.tts.lookahead == 3 and settings.llm.probe_local is False


def test_piper_is_the_default_and_its_section_has_flat_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TALKTERM_PIPER_VOICES_DIR", "/opt/voices")
    monkeypatch.setenv("TALKTERM_TTS__PIPER__THREADS", "1")
    settings = Settings(speed=0.75)
    assert settings.tts.engine == "piper" and settings.tts.speed == 0.75
    assert settings.tts.piper.voices_dir == "/opt/voices" and settings.tts.piper.threads == 1


def test_out_of_range_values_are_refused_by_their_flat_name() -> None:
    with pytest.raises(ValueError, match="rate"):
        Settings(espeak_rate=5)


def test_keys_come_from_the_environment_and_openai_key_stays_with_openai(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("TALKTERM_TTS_API_KEY", "sk-speech")
    settings = Settings(llm_base_url="http://127.0.0.1:1/v1")
    assert llm_key(settings) is None  # a third-party URL never gets OPENAI_API_KEY
    assert tts_key(settings) == "sk-speech"
    assert tts_key(Settings()) == "sk-speech" and llm_key(Settings()) == "sk-openai"
    assert "sk-" not in repr(settings)
