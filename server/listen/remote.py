"""Any OpenAI-compatible ``POST /v1/audio/transcriptions`` (OpenAI, speaches, LocalAI,
whisper.cpp's server) as the recognizer.

The turn goes up as a 16 kHz WAV file in OpenAI's multipart shape. A server that
streams (``stream=true``, SSE ``transcript.text.delta``) has its deltas passed on as
they come; one that answers with JSON gives one delta. Bounded as every upstream is:
a cap on the answer's bytes, a total deadline, and failures in plain words (the key
never appears in them).
"""

from __future__ import annotations

import asyncio
import io
import json
import wave
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Self

import httpx
import numpy as np

from server.listen import LISTEN_RATE, Samples, STTError, STTProvider
from server.log_scrub import redact

if TYPE_CHECKING:
    from server.config import Settings


class RemoteSTT(STTProvider):
    """An OpenAI-compatible transcription endpoint."""

    name = "openai"

    def __init__(
        self,
        base_url: str = "https://api.openai.com/v1",
        *,
        model: str = "whisper-1",
        api_key: str | None = None,
        stream: bool = False,
        max_response_bytes: int = 1 << 20,
        deadline: float = 30.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self._url = base_url.rstrip("/") + "/audio/transcriptions"
        self.model = model
        self.label = f"{model} at {base_url}"
        self._key = api_key
        self._stream = stream
        self._max_bytes = max_response_bytes
        self._deadline = deadline
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(deadline, connect=connect_timeout)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The endpoint of ``settings.stt.openai`` with its key."""
        from server.config import stt_key

        own = settings.stt.openai
        return cls(
            own.base_url,
            model=own.model,
            api_key=stt_key(settings),
            stream=own.stream,
            max_response_bytes=own.max_response_bytes,
            deadline=own.deadline,
            connect_timeout=settings.connect_timeout,
        )

    async def transcribe(
        self, audio: Samples, *, language: str | None = None, prompt: str | None = None
    ) -> AsyncIterator[str]:
        """Send the turn; yield the words as the endpoint gives them."""
        form: dict[str, Any] = {"model": self.model, "response_format": "json"}
        form |= {"language": language} if language else {}
        form |= {"prompt": prompt} if prompt else {}
        form |= {"stream": "true"} if self._stream else {}
        files = {"file": ("speech.wav", wav_bytes(audio), "audio/wav")}
        try:
            async with asyncio.timeout(self._deadline):
                async with self._client.stream("POST", self._url, data=form, files=files) as reply:
                    if reply.status_code != 200:
                        raise self._refused(reply.status_code, await self._body(reply))
                    if reply.headers.get("content-type", "").startswith("text/event-stream"):
                        async for delta in self._deltas(reply):
                            yield delta
                    else:
                        yield _text(await self._body(reply))
        except TimeoutError:
            raise STTError(
                f"The transcription endpoint did not finish within {self._deadline:g} s."
            ) from None
        except httpx.HTTPError as exc:
            message = redact(str(exc) or type(exc).__name__, self._key)
            raise STTError(f"Cannot reach the transcription endpoint ({message}).") from None

    async def _body(self, reply: httpx.Response) -> bytes:
        body = bytearray()
        async for chunk in reply.aiter_bytes():
            body += chunk
            self._check_size(len(body))
        return bytes(body)

    async def _deltas(self, reply: httpx.Response) -> AsyncIterator[str]:
        seen = 0
        async for line in reply.aiter_lines():
            seen += len(line) + 1
            self._check_size(seen)
            data = line.removeprefix("data:").strip() if line.startswith("data:") else ""
            if not data or data == "[DONE]":
                continue
            try:
                event = json.loads(data)
            except ValueError:
                raise STTError("The transcription endpoint sent a line that is not JSON.") from None
            if isinstance(event, dict) and event.get("type") == "transcript.text.delta":
                yield str(event.get("delta", ""))
            elif isinstance(event, dict) and event.get("type") == "transcript.text.done":
                return

    def _check_size(self, size: int) -> None:
        if size > self._max_bytes:
            raise STTError(
                f"The transcription endpoint's answer is larger than {self._max_bytes} bytes."
            )

    def _refused(self, status: int, body: bytes) -> STTError:
        try:
            detail = json.loads(body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            detail = body[:200].decode("utf-8", "replace").strip() or "no details"
        detail = redact(str(detail), self._key)
        return STTError(f"The transcription endpoint answered HTTP {status}: {detail}")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _text(body: bytes) -> str:
    try:
        text = json.loads(body)["text"]
    except (ValueError, KeyError, TypeError):
        raise STTError("The transcription endpoint's answer has no 'text'.") from None
    return str(text)


def wav_bytes(audio: Samples) -> bytes:
    """16 kHz float samples as a PCM16 mono WAV file."""
    pcm = np.clip(np.rint(audio * 32767.0), -32768, 32767).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(LISTEN_RATE)
        wav.writeframes(pcm)
    return out.getvalue()
