"""Voice input over HTTP: the app's recording, sent whole to ``POST /v1/audio/transcriptions``.

Over HTTP there is no session on the server to hear the microphone as it records,
so the HTTP link keeps what the app appends and, on commit, sends it as one WAV file
in OpenAI's multipart shape; the words come back as the transcription. Push-to-talk
only: the server's voice activity detection needs a live session, so the turn ends
with f4 or Enter.
"""

from __future__ import annotations

import io
import json
import secrets
import ssl
import wave

from server.protocol import PCM_RATE, PCM_SAMPLE_WIDTH
from tui.link.http_stream import Content, request

MAX_TURN_S = 120
"""The longest turn kept, as on the WebSocket (the server's per-turn cap)."""
MIN_TURN_MS = 100
"""A shorter recording holds no word: it is not sent."""


class Recording:
    """PCM16 mono 24 kHz appended by the app, bounded to one turn."""

    def __init__(self) -> None:
        self._pcm = bytearray()

    def append(self, pcm: bytes) -> None:
        """Keep ``pcm``; past the cap, the oldest audio goes first."""
        self._pcm += pcm
        cap = MAX_TURN_S * PCM_RATE * PCM_SAMPLE_WIDTH
        if len(self._pcm) > cap:
            del self._pcm[: len(self._pcm) - cap]

    @property
    def size(self) -> int:
        """Bytes recorded so far in this turn."""
        return len(self._pcm)

    def take(self) -> bytes:
        """What was recorded; the recording starts over."""
        pcm, self._pcm = bytes(self._pcm), bytearray()
        return pcm

    @staticmethod
    def too_short(pcm: bytes) -> bool:
        """Whether ``pcm`` is too short to hold a word."""
        return len(pcm) < PCM_RATE * PCM_SAMPLE_WIDTH * MIN_TURN_MS // 1000


def wav(pcm: bytes) -> bytes:
    """``pcm`` (PCM16 mono 24 kHz) as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(PCM_SAMPLE_WIDTH)
        file.setframerate(PCM_RATE)
        file.writeframes(pcm)
    return out.getvalue()


def multipart(fields: dict[str, str], audio: bytes) -> Content:
    """A multipart/form-data body with ``fields`` and ``audio`` as the file ``turn.wav``."""
    boundary = f"talkterm-{secrets.token_hex(12)}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="turn.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    body = b"".join([*parts, head, audio, f"\r\n--{boundary}--\r\n".encode()])
    return f"multipart/form-data; boundary={boundary}", body


async def transcribe(
    base_url: str, token: str | None, pcm: bytes, tls: ssl.SSLContext | None = None
) -> str:
    """The words the server hears in ``pcm`` (empty: no speech). Raises HTTPStatusError."""
    body = multipart({"model": "whisper-1", "response_format": "json"}, wav(pcm))
    raw = b"".join(
        [
            chunk
            async for chunk in request(
                f"{base_url}/v1/audio/transcriptions", token, body, timeout=60.0, tls=tls
            )
        ]
    )
    text = json.loads(raw).get("text")
    return text.strip() if isinstance(text, str) else ""
