"""Errors the terminal app raises, each with a message a person can act on.

    TalktermAppError          base: the message is in plain words, safe to show
    ├── NotConnected          an event was sent while the link is down
    ├── UpgradeRefused        the WebSocket handshake got a non-101 answer (HTTP fallback)
    ├── HTTPStatusError       the HTTP link's request got a status other than 200 (http_stream)
    ├── NotAServer            a 200 whose body is not a talkterm/OpenAI answer (also an OSError)
    ├── CompanionError        the companion server could not be started
    ├── AudioUnavailable      no output device, or PortAudio is missing
    ├── StoreError            the chat store could not be opened, read or written (store/db)
    │   └── ConversationNotFound  no conversation has the id asked for
    ├── SchemaTooNew          the chat store was written by a newer talkterm (store/schema)
    └── DecodeError           audio bytes that cannot be turned into PCM
        └── UnsupportedFormat an audio format name this app cannot decode

The server's own errors (``server/errors.py``) reach the app as ``error`` events,
not as exceptions; these are the app's alone. The classes named with a module are
defined beside the code that raises them; this module imports nothing, so any layer
of the app may use it.
"""

from __future__ import annotations


class TalktermAppError(Exception):
    """Base of the app's errors: ``str(error)`` is a plain-words message."""


class NotConnected(TalktermAppError):
    """An event was sent while there is no open connection."""


class NotAServer(TalktermAppError, OSError):
    """The server answered 200, but not as a talkterm/OpenAI server (an HTML page, odd JSON).

    An ``OSError`` too, so what retries an unreachable server retries this one.
    """

    def __init__(self, url: str) -> None:
        super().__init__(f"the server at {url} did not answer as a talkterm/OpenAI server")


class UpgradeRefused(TalktermAppError):
    """The server (or a proxy) answered the WebSocket handshake with a non-101 status."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"WebSocket upgrade refused with HTTP {status}")
        self.url, self.status = url, status


class CompanionError(TalktermAppError):
    """The companion server could not be started; the message says why, in plain words."""


class AudioUnavailable(TalktermAppError):
    """No output device / PortAudio missing; message in plain words."""


class DecodeError(TalktermAppError):
    """Audio bytes that cannot be turned into PCM; message in plain words."""


class UnsupportedFormat(DecodeError):
    """An audio format name this app cannot decode."""
