"""Server settings: flags > environment (``TALKTERM_…``) > defaults.

API keys come from the environment only, so they never show in ``ps`` output
or shell history, and are held as ``SecretStr`` so a stray repr or log line
prints ``**********`` instead of the key.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

TTSName = Literal["piper", "espeak", "openai", "none"]


class Settings(BaseSettings):
    """Everything the companion server can be told."""

    model_config = SettingsConfigDict(env_prefix="TALKTERM_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    """Address to bind; anything but loopback requires a token."""
    port: int = Field(8765, ge=0, le=65535)
    """TCP port; 0 picks a free one (the ready line says which)."""
    token: SecretStr | None = None
    """Bearer token clients must present; required off loopback."""

    llm_base_url: str | None = None
    """OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1 for Ollama."""
    llm_model: str | None = None
    """Model name; a sensible default is picked per endpoint."""
    llm_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("TALKTERM_LLM_API_KEY", "llm_api_key")
    )
    """Key for --llm-base-url (environment only: TALKTERM_LLM_API_KEY)."""
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )
    """OPENAI_API_KEY: the fallback key, only ever sent to api.openai.com."""
    instructions: str = (
        "You are talkterm, a helpful voice assistant in a terminal. Answer briefly and "
        "conversationally; your answers are read aloud."
    )
    """Default system prompt; a session.update with instructions overrides it."""
    connect_timeout: float = Field(5.0, gt=0)
    """Seconds to wait for the LLM/TTS endpoint to accept a connection."""
    read_timeout: float = Field(60.0, gt=0)
    """Seconds to wait between two chunks of a stream before giving up."""
    probe_local: bool = True
    """With no LLM configured, look for Ollama / llama.cpp on loopback."""
    ollama_url: str = "http://127.0.0.1:11434"
    llamacpp_url: str = "http://127.0.0.1:8080"

    tts: TTSName = "piper"
    """Speech engine: piper (offline, natural; falls back to espeak when it cannot load),
    espeak (offline, robotic), openai (/v1/audio/speech) or none."""
    voice: str | None = None
    """Voice name: Piper voice (en_US-joe-medium, a .onnx path, name#speaker), espeak-ng
    voice (en-us) or the speech endpoint's (alloy)."""
    speed: float = Field(1.0, ge=0.25, le=1.5)
    """Speaking speed, as the Realtime API's audio.output.speed (1 = normal)."""
    piper_voices_dir: str = "~/.local/share/piper-voices"
    """Extra Piper voices: <name>.onnx files with their .onnx.json, e.g. from
    ``python -m piper.download_voices --download-dir <dir> en_GB-alba-medium``."""
    espeak_rate: int = Field(175, ge=80, le=450)
    """espeak-ng words per minute."""
    espeak_executable: str = "espeak-ng"
    tts_base_url: str = "https://api.openai.com/v1"
    """Base URL of an OpenAI-compatible speech endpoint (for --tts openai)."""
    tts_model: str = "tts-1"
    tts_format: Literal["pcm", "wav", "mp3", "opus", "aac", "flac"] = "pcm"
    tts_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("TALKTERM_TTS_API_KEY", "tts_api_key")
    )
    """Speech API key (environment only): TALKTERM_TTS_API_KEY; else OPENAI_API_KEY when
    the speech endpoint is OpenAI's own."""
    tts_lookahead: int = Field(2, ge=1, le=8)
    """How many sentences may be synthesised ahead of the one being sent."""

    ping_interval: float | None = Field(20.0, gt=0)
    """Seconds between WebSocket pings; dead peers are dropped."""
    ping_timeout: float | None = Field(20.0, gt=0)
    close_timeout: float = Field(2.0, gt=0)
    """Seconds to wait for a closing handshake; a dead peer's work stops after this."""
    max_frame_bytes: int = Field(1 << 20, ge=1024)
    """Largest client frame accepted; larger ones close the connection (1009)."""
    resume_grace: float = Field(60.0, ge=0)
    """Seconds a session outlives a dropped connection, waiting for the client to resume."""
    replay_buffer_bytes: int = Field(8 << 20, ge=1 << 16)
    """Per-session memory of sent events for resuming (8 MiB ≈ 2.5 min of 24 kHz speech)."""
    log_level: str = "INFO"


def llm_key(settings: Settings) -> str | None:
    """The key for the LLM endpoint: TALKTERM_LLM_API_KEY, else OPENAI_API_KEY for OpenAI."""
    return _first_key(settings.llm_api_key, settings.openai_api_key, settings.llm_base_url)


def tts_key(settings: Settings) -> str | None:
    """The key for the speech endpoint, by the same rule as llm_key."""
    return _first_key(settings.tts_api_key, settings.openai_api_key, settings.tts_base_url)


def _first_key(own: SecretStr | None, openai: SecretStr | None, url: str | None) -> str | None:
    if own is not None and own.get_secret_value():
        return own.get_secret_value()
    # OPENAI_API_KEY goes to OpenAI only: never hand it to a third-party base URL.
    if openai is not None and (url is None or urlsplit(url).hostname == "api.openai.com"):
        return openai.get_secret_value() or None
    return None


class InsecureBinding(ValueError):
    """Refuse to listen off loopback without a token."""


def check_binding(settings: Settings) -> None:
    """Raise InsecureBinding when a non-loopback address has no token."""
    if settings.token is not None and settings.token.get_secret_value():
        return
    if not is_loopback(settings.host):
        raise InsecureBinding(
            f"Refusing to listen on {settings.host} without a token: anyone on the network "
            "could use your LLM account. Pass --token (or TALKTERM_TOKEN), or bind 127.0.0.1."
        )


def is_loopback(host: str) -> bool:
    """Whether host names only this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
