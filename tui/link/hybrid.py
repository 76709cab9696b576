"""The hybrid link: the first answer over HTTP streaming while the WebSocket connects.

The design's third option. At start the app is ready at once: its first question goes
out as one streamed Chat Completions request (``HttpLink`` without its model probe),
while the ``later`` link (the WebSocket, falling back to HTTP as ``FallbackLink`` does)
connects in the background. What the later link says about itself is held back until
the conversation moves: at once if it is up before the first question, else at the
first turn that begins once it is up and the HTTP half is idle. Then the held messages
reach the app (status, the server's models and voices), and the new session is given
what the HTTP half chose (session.updates) and its history (the heard share of a stopped
answer) before the turn's own events. Pause, Stop and
truncation act on whichever half holds the answer, as each link already does alone.

If the HTTP half drops before that, the move happens as soon as the later link is up;
a WebSocket that is refused leaves the later link on HTTP, as the fallback does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from textual.message import Message

from server import protocol as p
from tui.link import Link
from tui.link.events import conversation_item
from tui.link.http import HttpLink
from tui.link.messages import ConnectionMessages as Messages
from tui.link.messages import Post

log = logging.getLogger("talkterm.connection")

_TURN_STARTS = frozenset({p.ITEM_CREATE, p.RESPONSE_CREATE, "input_audio_buffer.append"})
"""Events that begin a turn: the moment the conversation may move to the later link."""


class HybridLink:
    """HTTP streaming for the first answer, then the later link (the WebSocket)."""

    def __init__(self, first: HttpLink, later: Callable[[Post], Link], post: Post) -> None:
        self.first, self._post = first, post
        self.later = later(self._from_later)
        self.moved = False
        self._held: dict[type[Message], Message] = {}
        self._first_ended = False
        self._later_up = asyncio.Event()
        self._updates: list[dict[str, Any]] = []  # session.updates the HTTP half took
        self._asked = False  # the HTTP half was asked for an answer or given audio

    @property
    def connected(self) -> bool:
        """Whether events can be sent now (the HTTP half is ready at once)."""
        return self.later.connected if self.moved else self.first.connected

    @property
    def resumable(self) -> bool:
        """Only the later link's WebSocket session can be resumed."""
        return self.moved and self.later.resumable

    def send(self, event: dict[str, Any]) -> None:
        """Send through the half that holds the conversation; move it at a turn's start."""
        if not self.moved and event["type"] in _TURN_STARTS and self._may_move():
            self._move()
        if self.moved:
            self.later.send(event)
            return
        if event["type"] == p.SESSION_UPDATE:
            self._updates.append(event)
        elif event["type"] in _TURN_STARTS - {p.ITEM_CREATE}:
            self._asked = True
        self.first.send(event)

    async def run(self) -> None:
        """Serve the first half while the later link connects; then the later link alone."""
        later = asyncio.create_task(self.later.run())
        try:
            await self.first.run(probe=False)  # until retired by the move, or a drop
            self._first_ended = True
            if not self.moved:
                log.info("the HTTP half ended before the move; waiting for the WebSocket")
                await self._later_up.wait()
                self._move()
            await later
        finally:
            later.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await later

    async def new_session(self) -> None:
        """Leave the current conversation for an empty one, on the half that holds it."""
        if self.moved:
            await self.later.new_session()
        else:
            await self.first.new_session()

    async def close(self) -> None:
        """Stop what the later link started."""
        await self.later.close()

    # -- the move -------------------------------------------------------------------------

    def _may_move(self) -> bool:
        return self.later.connected and not self.first.busy

    def _move(self) -> None:
        """Hand the conversation to the later link: its news, then the settings and history."""
        self.moved = True
        log.info("moving the conversation to the later link (%d turns)", len(self.first.history))
        for kind in (Messages.Connected, Messages.SessionStarted):
            if (held := self._held.pop(kind, None)) is not None:
                self._post(_not_replaced(held))
        for update in self._updates:
            self.later.send(update)
        for turn in self.first.history:
            self.later.send(conversation_item(turn["role"], turn["content"]))
        self.first.retire()

    def _from_later(self, message: Message) -> None:
        """The later link's messages: through once moved; before, only what must be known."""
        if self.moved:
            self._post(message)
        elif isinstance(message, Messages.Connected | Messages.SessionStarted):
            self._held[type(message)] = message
            self._later_up.set()
            if not self._asked and len(self._held) == 2 and self.later.connected:
                self._move()  # up before the first question: nothing of HTTP to hand over
        elif isinstance(message, Messages.AuthRefused):
            self._post(message)  # final for both halves: the same token
        elif isinstance(message, Messages.Lost):
            self._later_up.clear()
            if self._first_ended:
                self._post(message)  # nothing else tells the app why it waits
            else:
                log.info("the later link is down (%s); the HTTP half carries on", message.reason)


def _not_replaced(message: Message) -> Message:
    """A held session start tells the app about the server; the hybrid seeds it itself."""
    if isinstance(message, Messages.SessionStarted) and message.replaced:
        message.replaced = False
    return message
