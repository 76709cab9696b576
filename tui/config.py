"""Settings of the terminal app: flags > environment (``TALKTERM_…``) > config file > defaults.

The config file is TOML at ``$XDG_CONFIG_HOME/talkterm/config.toml`` (or the
path in ``TALKTERM_CONFIG``)::

    server = "wss://talk.example/v1/realtime"
    transport = "auto"            # websocket, http, hybrid
    ca_file = "~/talk-ca.pem"     # trust a self-signed server too
    audio_device = "pulse"
    text_only = false

    [keymap]          # binding id = key(s), see docs/keys.md
    stop = "f8"

    [companion]       # extra settings for the server talkterm starts itself
    tts = "none"

    [preferences]     # written by the settings screen (f3); see tui/preferences.py
    voice = "en-us"
    speed = 1.25
    theme = "nord"

The token is a ``SecretStr``: a stray repr or log line prints ``**********``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tui.tls import client_context

APP_NAME = "talkterm"
# Set by load_settings(config_file=...) for the duration of one load; a
# ContextVar rather than a global so concurrent tests cannot see each other's file.
_config_override: ContextVar[Path | None] = ContextVar("talkterm_config", default=None)


def _xdg_dir(variable: str, fallback: str) -> Path:
    """An XDG base directory, read when called (never at import time)."""
    value = os.environ.get(variable)
    return Path(value) if value and Path(value).is_absolute() else Path.home() / fallback


def config_path() -> Path:
    """Where the config file is read from."""
    override = _config_override.get() or os.environ.get("TALKTERM_CONFIG")
    if override:
        return Path(override).expanduser()
    return _xdg_dir("XDG_CONFIG_HOME", ".config") / APP_NAME / "config.toml"


def default_log_path() -> Path:
    """Where logs go unless ``log_file`` says otherwise."""
    return _xdg_dir("XDG_STATE_HOME", ".local/state") / APP_NAME / f"{APP_NAME}.log"


def default_store_path() -> Path:
    """Where conversations are kept unless ``store_file`` says otherwise."""
    return _xdg_dir("XDG_DATA_HOME", ".local/share") / APP_NAME / f"{APP_NAME}.db"


class Settings(BaseSettings):
    """Everything the terminal app can be told."""

    model_config = SettingsConfigDict(env_prefix="TALKTERM_", extra="ignore", validate_default=True)

    server: str | None = None
    """A running server: ws://, wss://, http://, https:// or host:port; unset starts a companion.
    Held as the WebSocket URL; the app falls back to HTTP streaming when that is refused."""
    transport: Literal["auto", "websocket", "http", "hybrid"] = "auto"
    """With --server: ``websocket``, ``http`` streaming, ``hybrid`` (the first answer over HTTP
    while the WebSocket connects) or ``auto`` (the WebSocket, falling back to HTTP)."""
    ca_file: Path | None = None
    """A CA certificate (PEM) to trust for wss:// and https://, e.g. a self-signed server's."""
    token: SecretStr | None = None
    """Bearer token for --server (environment or config file; a flag shows in ps)."""
    audio_device: str | None = None
    """Output device, by name or index (see --list-devices); unset uses the default."""
    text_only: bool = False
    """Start in text-only mode: no speech is requested or played."""
    mic_device: str | None = None
    """Input device for talking (f4), by name or index; unset uses the default."""
    hands_free: bool = False
    """After each answer, listen again by itself (the microphone stays closed while it plays)."""
    echo_cancellation: bool = False
    """Take the answer's sound out of the microphone (the ``echo`` extra), so hands-free keeps
    listening while an answer plays and speaking over it stops it. The settings screen's
    choice, once saved, wins over this."""
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id to key(s), e.g. {"stop": "f8"}; see docs/keys.md."""
    companion: dict[str, str] = Field(default_factory=dict)
    """Extra TALKTERM_* settings for the companion server, e.g. {"tts": "none"}."""
    preferences: dict[str, Any] = Field(default_factory=dict)
    """Chosen in the app's settings screen (model, voice, speed, instructions, theme)."""
    connect_timeout: float = Field(10.0, gt=0)
    """Seconds to wait for the server's handshake (and for a companion to be ready)."""
    reconnect_max_delay: float = Field(15.0, gt=0)
    """Upper bound, in seconds, of the wait between two reconnection attempts."""
    ping_interval: float = Field(20.0, gt=0)
    """Seconds between keepalive pings."""
    ping_timeout: float = Field(20.0, gt=0)
    """Seconds without a pong before the connection counts as lost."""
    log_file: Path | None = None
    """Log file; unset means $XDG_STATE_HOME/talkterm/talkterm.log."""
    log_level: str = "INFO"
    """DEBUG, INFO, WARNING…"""
    store_file: Path | None = None
    """The chat store (SQLite); unset means $XDG_DATA_HOME/talkterm/talkterm.db."""
    continue_last: bool = False
    """Reopen the most recent conversation at start (--continue)."""
    snapshot_mode: bool = False
    """Hide timings and addresses so screenshots are reproducible (tests)."""

    @field_validator("server")
    @classmethod
    def _websocket_url(cls, value: str | None) -> str | None:
        return websocket_url(value) if value else None

    @field_validator("ca_file")
    @classmethod
    def _readable_ca(cls, value: Path | None) -> Path | None:
        if value is not None:
            value = value.expanduser()
            client_context(value)  # a missing or broken file is refused at start, in words
        return value

    @property
    def log_path(self) -> Path:
        """The log file actually used."""
        return self.log_file or default_log_path()

    @property
    def store_path(self) -> Path:
        """The chat store actually used."""
        return self.store_file or default_store_path()

    @property
    def token_value(self) -> str | None:
        """The token in clear, for the Authorization header only."""
        return self.token.get_secret_value() if self.token else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init) over environment over the TOML file."""
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_path()),
        )


@contextmanager
def _using_config(path: Path | None) -> Iterator[None]:
    token = _config_override.set(path)
    try:
        yield
    finally:
        _config_override.reset(token)


def load_settings(flags: dict[str, Any] | None = None, config_file: Path | None = None) -> Settings:
    """Build Settings from flags given (None values dropped), env and the config file."""
    given = {key: value for key, value in (flags or {}).items() if value is not None}
    with _using_config(config_file):
        return Settings(**given)


def websocket_url(value: str) -> str:
    """The WebSocket URL for what a person typed: ws(s)://, http(s):// or a bare host:port."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "ws", value
    schemes = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
    if scheme not in schemes or not rest.strip("/"):
        raise ValueError(
            "must be a ws://, wss://, http:// or https:// URL or host:port, "
            "e.g. ws://127.0.0.1:8765/v1/realtime"
        )
    host, slash, path = rest.partition("/")
    return f"{schemes[scheme]}://{host}/{path if slash and path else 'v1/realtime'}"
