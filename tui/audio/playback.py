"""An answer's sound: the player (once open), the decoding feed and the generation number.

Every answer gets a new *generation*, and so does a Stop: audio of an older one is
dropped before it reaches the speaker, however much of it is still queued.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.message import Message

from tui.audio import PlayerLike
from tui.audio.feed import AudioFeed, QuietCollector


class Playback:
    """What the app plays through; every call is safe while there is no player."""

    def __init__(self, post: Callable[[Message], Any], player: PlayerLike | None) -> None:
        self.player = player
        """The open player (before it opens: the one to open, if given)."""
        self.feed = AudioFeed(post)
        self.collector = QuietCollector()
        self.generation = 0

    def start(self, playing: Callable[[], PlayerLike | None]) -> None:
        """Start decoding for whatever ``playing`` returns; keep full collections out of answers."""
        self.feed.start(playing)
        self.collector.start()

    def close(self) -> None:
        """Silence the speaker and stop the thread."""
        self.feed.close()
        self.collector.stop()
        if self.player is not None:
            self.player.close()

    def begin(self, voice: bool) -> int:
        """A new answer: its generation (the player listens only when it is spoken)."""
        self._next_generation()
        if self.player is not None and voice:
            self.player.begin(self.generation)
        return self.generation

    def stop(self, audio_seen: bool) -> float:
        """Silence at once and drop what is queued; the ms that were heard."""
        heard = self.player.stop() if self.player is not None and audio_seen else 0.0
        self._next_generation()
        return heard

    def silence(self) -> None:
        """Cut the sound of the current answer."""
        if self.player is not None:
            self.player.stop()

    def pause(self) -> None:
        """Hold the sound within one audio block."""
        if self.player is not None:
            self.player.pause()

    def resume(self) -> None:
        """Carry on from the exact sample."""
        if self.player is not None:
            self.player.resume()

    def position(self) -> tuple[float, float] | None:
        """(played, buffered) ms of the current answer, or None without a player."""
        if self.player is None:
            return None
        return self.player.played_ms, self.player.buffered_ms

    def _next_generation(self) -> None:
        self.generation += 1
        self.feed.generation = self.generation
