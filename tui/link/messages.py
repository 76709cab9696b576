"""What a link posts: typed messages for what happened to the link and what
the server said.

They are nested on ``ConnectionMessages`` (which ``Connection`` inherits) under the
namespace ``connection``, so handlers stay named ``on_connection_text_arrived`` and so on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from tui.languages import LanguageVoices

Post = Callable[[Message], Any]
"""How a link hands a message to the app (``App.post_message``)."""


class ConnectionMessages:
    """The messages of the WebSocket link (and of the HTTP link that stands in for it)."""

    # -- what happened to the link ----------------------------------------------

    @dataclass
    class Connecting(Message, namespace="connection"):
        """An attempt to connect has begun."""

        url: str | None
        attempt: int

    @dataclass
    class Connected(Message, namespace="connection"):
        """The WebSocket handshake succeeded (or HTTP streaming answers, for a fallback)."""

        url: str
        transport: str = ""
        """A transport other than the WebSocket, named in the status line ("HTTP streaming")."""

    @dataclass
    class Lost(Message, namespace="connection"):
        """The link is down (or never came up); the next attempt is in ``retry_in`` s."""

        reason: str
        retry_in: float

    @dataclass
    class AuthRefused(Message, namespace="connection"):
        """The server refused our token; no further attempts are made."""

        reason: str

    # -- what the server said -----------------------------------------------------

    @dataclass
    class SessionStarted(Message, namespace="connection"):
        """``session.created``: which LLM and speech engine the server uses.

        ``replaced`` is True when we asked to resume a session and the server started a
        new one instead: whatever was in flight is lost and the conversation must be
        sent again.
        """

        llm: str
        tts: str
        demo: bool
        replaced: bool = False
        models: list[str] | None = None
        """Models the server can answer with (None: it did not say)."""
        voices: list[str] | None = None
        """Voices its speech engine offers (None: it did not say)."""
        languages: dict[str, LanguageVoices] | None = None
        """The voices per language it offers (None: it did not say)."""
        listens: bool = False
        """Whether the session can take the microphone (``session.talkterm.listen``)."""
        deaf_because: str = ""
        """Why it cannot, in the server's plain words (empty: it did not say)."""
        push_to_talk: bool = False
        """The turn ends with f4 or Enter only: no voice activity detection (HTTP streaming)."""

    @dataclass
    class SessionUpdated(Message, namespace="connection"):
        """``session.updated``: the server took a session.update (and may list choices anew)."""

        models: list[str] | None = None
        voices: list[str] | None = None
        languages: dict[str, LanguageVoices] | None = None

    @dataclass
    class SessionResumed(Message, namespace="connection"):
        """``session.resumed``: the server replays what we missed; nothing is lost."""

        replayed: int

    @dataclass
    class ResponseStarted(Message, namespace="connection"):
        """``response.created``."""

        response_id: str

    @dataclass
    class ItemStarted(Message, namespace="connection"):
        """``response.output_item.added``: the assistant item to truncate later."""

        response_id: str
        item_id: str

    @dataclass
    class TextArrived(Message, namespace="connection"):
        """A transcript or text delta."""

        response_id: str
        delta: str

    @dataclass
    class SegmentAnnounced(Message, namespace="connection"):
        """``response.output_audio.segment``: one sentence's audio follows."""

        response_id: str
        index: int
        char_start: int
        char_end: int
        audio_start_ms: float
        format: str
        language: str = ""
        """The sentence's language code (``cmn``, ``en``…), when the server says."""

    @dataclass
    class AudioArrived(Message, namespace="connection"):
        """One audio delta (binary frame or base64 event)."""

        response_id: str
        audio: bytes

    @dataclass
    class ResponseFinished(Message, namespace="connection"):
        """``response.done``."""

        response_id: str
        status: str
        timings: dict[str, float | None] = field(default_factory=dict)

    @dataclass
    class ResponsePaused(Message, namespace="connection"):
        """``response.paused``."""

        response_id: str

    @dataclass
    class ResponseResumed(Message, namespace="connection"):
        """``response.resumed``."""

        response_id: str

    # -- what the server heard (the Realtime API's input side) ------------------------

    @dataclass
    class SpeechStarted(Message, namespace="connection"):
        """``input_audio_buffer.speech_started``: the server hears speech."""

        item_id: str

    @dataclass
    class SpeechStopped(Message, namespace="connection"):
        """``input_audio_buffer.speech_stopped``: the speech paused."""

        item_id: str

    @dataclass
    class InputCommitted(Message, namespace="connection"):
        """``input_audio_buffer.committed``: the turn is in; its words follow."""

        item_id: str

    @dataclass
    class InputCleared(Message, namespace="connection"):
        """``input_audio_buffer.cleared``: what was recorded was thrown away."""

    @dataclass
    class Heard(Message, namespace="connection"):
        """``…input_audio_transcription.completed``: the words of a spoken turn."""

        item_id: str
        transcript: str

    @dataclass
    class NotHeard(Message, namespace="connection"):
        """``…input_audio_transcription.failed``: no words (silence, noise); why."""

        item_id: str
        code: str
        message: str

    @dataclass
    class NoticeArrived(Message, namespace="connection"):
        """A ``talkterm.notice``: something to know (early turns left out), no failure."""

        code: str
        message: str

    @dataclass
    class ServerError(Message, namespace="connection"):
        """An ``error`` event, with the server's plain-words message."""

        code: str
        message: str
