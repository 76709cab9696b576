"""The app's link over HTTP streaming.

``HttpLink`` plays the server's part of the Realtime conversation on the client:
it keeps the history the events describe and answers ``response.create`` with
one ``POST /v1/chat/completions`` (stream, text and audio), posting the same
messages the WebSocket link posts. Pause and resume are local (the app holds text
and playback; the stream keeps arriving into its buffers); Stop closes the request;
a dropped stream ends the HTTP mode as a lost link. What a ``session.update`` chose
(model, system prompt, voice, speaking rate) goes into every request, as the WebSocket
server would apply it to every answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
from dataclasses import dataclass, replace
from typing import Any

from server import protocol as p
from tui.errors import NotAServer
from tui.heard import heard_prefix
from tui.link import unreachable
from tui.link.http_listen import Recording, transcribe
from tui.link.http_stream import HTTPStatusError, request, sse_data
from tui.link.messages import ConnectionMessages as Messages
from tui.link.messages import Post

log = logging.getLogger("talkterm.connection")


@dataclass
class _Reply:
    """One streamed answer as it arrives, and where its listener stopped it."""

    item: str
    text: str = ""
    audio: int = 0  # PCM bytes received
    heard_ms: int | None = None  # set by a truncate: only this much was played
    index: int | None = None  # its place in the history once remembered

    def kept(self) -> str:
        """What to remember: all of it, or the share of the text its heard audio covers."""
        if self.heard_ms is None:
            return self.text
        return heard_prefix(self.text, None, self.heard_ms, p.pcm_ms(self.audio))


class HttpLink:
    """Chat Completions streaming behind the app's Realtime-shaped events."""

    def __init__(
        self, url: str, token: str | None, post: Post, tls: ssl.SSLContext | None = None
    ) -> None:
        self.url, self._token, self._post, self._tls = url, token, post, tls
        self.history: list[dict[str, str]] = []
        self._voice = True
        self._answer: asyncio.Task[None] | None = None
        self._count = 0
        self._last: _Reply | None = None  # the answer a truncate may cut
        self._model = "?"
        self._models: list[str] | None = None
        self._chosen = _Chosen()
        self._dropped = asyncio.Event()
        self.connected = False
        self._recording = Recording()
        self._heard = 0
        self._hearing: set[asyncio.Task[None]] = set()

    async def run(self, *, probe: bool = True) -> None:
        """Check the server answers over HTTP, then serve until a stream drops (or retire).

        Without ``probe`` the link is ready at once, unchecked: the first request is the
        check (the hybrid link's first answer must not wait for a round trip of its own).
        """
        if probe:
            listed = await self._listed_models()
            self._model, self._models = (listed[0] if listed else "?"), listed or None
        self.connected = True
        self._post(Messages.Connected(self.url, transport="HTTP streaming"))
        # A new, empty conversation on this side: the app re-sends its history.
        self._post(self._session_started(replaced=True))
        try:
            await self._dropped.wait()
        finally:
            self.connected = False
            if self._answer is not None:
                self._answer.cancel()

    async def _listed_models(self) -> list[str]:
        """The models ``/v1/models`` lists; a 200 that is not its JSON is ``NotAServer``."""
        models = request(f"{self.url}/v1/models", self._token, tls=self._tls)
        raw = b"".join([c async for c in models])
        try:  # an HTML page, a list, entries without ids: not a server this link can use
            return [str(m["id"]) for m in json.loads(raw).get("data") or []]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise NotAServer(self.url) from exc

    @property
    def busy(self) -> bool:
        """Whether an answer streams, a turn is being recorded, or its words are awaited."""
        answering = self._answer is not None and not self._answer.done()
        return answering or bool(self._hearing) or self._recording.size > 0

    def retire(self) -> None:
        """End ``run`` without reporting a lost link: another link takes over."""
        self._dropped.set()

    async def new_session(self) -> None:
        """Start over with an empty history; the app then sends the conversation it shows."""
        if self._answer is not None:
            self._answer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._answer  # it remembers what it had; forgotten just below
        self.history.clear()
        self._last = None
        self._post(self._session_started())

    def _session_started(self, *, replaced: bool = False) -> Messages.SessionStarted:
        # Listening is push-to-talk here: a server that cannot listen says so when asked.
        return Messages.SessionStarted(
            self._model,
            "server",
            False,
            replaced=replaced,
            models=self._models,
            listens=True,
            push_to_talk=True,
        )

    def send(self, event: dict[str, Any]) -> None:
        """Act on one client event as the server would."""
        kind = event["type"]
        if kind == p.SESSION_UPDATE:
            session = event["session"]
            if "output_modalities" in session:
                self._voice = session["output_modalities"] == ["audio"]
            self._chosen = self._chosen.updated(session)
        elif kind == p.ITEM_CREATE:
            item = event["item"]
            self.history.append({"role": item["role"], "content": item["content"][0]["text"]})
        elif kind == p.RESPONSE_CREATE:
            wanted = (event.get("response") or {}).get("output_modalities")
            self._start(self._voice if wanted is None else wanted == ["audio"])
        elif kind == p.RESPONSE_CANCEL and self._answer is not None:
            self._answer.cancel()
        elif kind in (p.RESPONSE_PAUSE, p.RESPONSE_RESUME):
            rid = str(event.get("response_id", ""))
            paused = kind == p.RESPONSE_PAUSE
            ack = Messages.ResponsePaused if paused else Messages.ResponseResumed
            self._post(ack(rid))
        elif kind == p.ITEM_TRUNCATE:
            self._truncate(str(event["item_id"]), int(event["audio_end_ms"]))
        elif kind == "input_audio_buffer.append":
            self._recording.append(base64.b64decode(event["audio"]))
        elif kind == "input_audio_buffer.commit":
            self._commit()
        elif kind == "input_audio_buffer.clear":
            self._recording.take()
            self._post(Messages.InputCleared())

    def _commit(self) -> None:
        """The turn is over: transcribe it (the app asks for the answer once it has words)."""
        self._heard += 1
        item, pcm = f"item_http_in_{self._heard}", self._recording.take()
        self._post(Messages.InputCommitted(item))
        if Recording.too_short(pcm):
            self._post(
                Messages.NotHeard(
                    item,
                    "input_audio_buffer_commit_empty",
                    "The recording was too short to hold a word.",
                )
            )
            return
        task = asyncio.create_task(self._transcribe(item, pcm))
        self._hearing.add(task)
        task.add_done_callback(self._hearing.discard)

    async def _transcribe(self, item: str, pcm: bytes) -> None:
        try:
            words = await transcribe(self.url, self._token, pcm, self._tls)
        except HTTPStatusError as exc:
            self._post(Messages.NotHeard(item, f"http_{exc.status}", exc.message))
            return
        except (OSError, ValueError) as exc:
            self._post(Messages.NotHeard(item, "transcription_failed", unreachable(self.url, exc)))
            return
        if not words:
            self._post(Messages.NotHeard(item, "no_speech", "No speech was heard."))
            return
        self.history.append({"role": "user", "content": words})
        self._post(Messages.Heard(item, words))

    def _start(self, voice: bool) -> None:
        self._count += 1
        rid, item = f"resp_http_{self._count}", f"item_http_{self._count}"
        self._answer = asyncio.create_task(self._stream(rid, item, voice))

    async def _stream(self, rid: str, item: str, voice: bool) -> None:
        self._post(Messages.ResponseStarted(rid))
        self._post(Messages.ItemStarted(rid, item))
        # Stop sends cancel and truncate together: the truncate lands while this task is
        # still unwinding, so it marks the reply rather than the history.
        reply = self._last = _Reply(item)
        status: p.ResponseStatus = p.COMPLETED
        body = self._chosen.request(self.history, voice)
        try:
            chunks = request(f"{self.url}/v1/chat/completions", self._token, body, tls=self._tls)
            async for data in sse_data(chunks):
                if data == "[DONE]":
                    break
                delta, error, finish = _delta(data)
                if finish == "length":
                    status = p.INCOMPLETE  # cut at the answer's length cap: what came still plays
                if error is not None:
                    code = str(error.get("code") or "error")
                    self._post(Messages.ServerError(code, str(error.get("message"))))
                    status = p.FAILED
                    break
                audio = delta.get("audio") or {}
                if piece := delta.get("content") or audio.get("transcript"):
                    reply.text += piece
                    self._post(Messages.TextArrived(rid, piece))
                if pcm := audio.get("data"):
                    raw = base64.b64decode(pcm)
                    reply.audio += len(raw)
                    self._post(Messages.AudioArrived(rid, raw))
        except asyncio.CancelledError:
            status = p.CANCELLED  # Stop: leaving the request closed the connection
        except HTTPStatusError as exc:
            self._post(Messages.ServerError(f"http_{exc.status}", exc.message))
            status = p.FAILED
        except OSError as exc:
            self._drop(reply, unreachable(self.url, exc))
            return
        except (ValueError, TypeError, AttributeError) as exc:
            # Not OpenAI's chunk shape (bad JSON or base64, a proxy's page): say so, end it.
            message = f"The server's stream could not be read ({type(exc).__name__}: {exc})."
            self._post(Messages.ServerError("bad_stream", message))
            status = p.FAILED
        self._finish(rid, reply, status)

    def _finish(self, rid: str, reply: _Reply, status: str) -> None:
        if status != p.FAILED:
            self._remember(reply)
        self._post(Messages.ResponseFinished(rid, status))

    def _drop(self, reply: _Reply, reason: str) -> None:
        """A dropped stream: keep what arrived, report the link lost (the app marks it)."""
        self._remember(reply)
        self._post(Messages.Lost(reason, 0.0))
        self._dropped.set()

    def _remember(self, reply: _Reply) -> None:
        if reply.text:
            reply.index = len(self.history)
            self.history.append({"role": "assistant", "content": reply.kept()})

    def _truncate(self, item: str, audio_end_ms: int) -> None:
        """Keep only what was heard, whether the answer is still unwinding or remembered."""
        reply = self._last
        if reply is None or reply.item != item:
            return
        reply.heard_ms = audio_end_ms
        if reply.index is not None:
            self.history[reply.index]["content"] = reply.kept()


@dataclass(frozen=True)
class _Chosen:
    """What the app's session.update chose; None leaves it to the server."""

    model: str | None = None
    instructions: str | None = None
    voice: str | None = None
    speed: float | None = None

    def updated(self, session: dict[str, Any]) -> _Chosen:
        """These choices with the fields a session.update sets."""
        output = (session.get("audio") or {}).get("output") or {}
        return replace(
            self,
            model=session.get("model", self.model),
            instructions=session.get("instructions", self.instructions),
            voice=output.get("voice", self.voice),
            speed=output.get("speed", self.speed),
        )

    def request(self, history: list[dict[str, str]], voice: bool) -> dict[str, Any]:
        """The Chat Completions body for an answer to ``history``."""
        system = [{"role": "system", "content": self.instructions}] if self.instructions else []
        body: dict[str, Any] = {
            "model": self.model or "talkterm",
            "messages": system + history,
            "stream": True,
        }
        if voice:
            # The server's own voice unless one was chosen: "alloy" is what OpenAI clients
            # send, and it maps to the default. ``speed`` is talkterm's extension.
            audio: dict[str, Any] = {"voice": self.voice or "alloy", "format": "pcm16"}
            if self.speed is not None:
                audio["speed"] = self.speed
            body |= {"modalities": ["text", "audio"], "audio": audio}
        return body


def _delta(data: str) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
    """One chunk's delta, its error (if any) and its finish reason (if any)."""
    chunk = json.loads(data)
    if "error" in chunk:
        return {}, chunk["error"] or {}, None
    choices = chunk.get("choices") or []
    if not choices:
        return {}, None, None
    return choices[0].get("delta") or {}, None, choices[0].get("finish_reason")
