"""The audio thread: decode each segment off the UI thread and feed the player.

The app puts (generation, what) items on a queue and returns at once; this
thread turns them into PCM with ``tui.audio.decoder`` and hands it to the player.
Items of any generation but the newest are dropped here, and the player drops
them again, so audio of a stopped answer can never be heard.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.message import Message

from tui.audio import PlayerLike
from tui.audio.decoder import SegmentAssembler
from tui.errors import DecodeError

log = logging.getLogger("talkterm.audio")


class AudioFeed:
    """Owns the decoding thread and its queue."""

    @dataclass
    class Drained(Message):
        """Every segment of ``generation`` has been decoded and fed."""

        generation: int

    @dataclass
    class Failed(Message):
        """A segment could not be decoded; the reason in plain words."""

        reason: str

    @dataclass
    class Opened(Message):
        """The output device is open: voice mode is possible."""

        player: PlayerLike

    @dataclass
    class Missing(Message):
        """There is no way to play sound; the reason in plain words."""

        reason: str

    def __init__(self, post: Callable[[Message], Any]) -> None:
        self._post = post
        self.generation = 0
        """The newest generation; older items are skipped (an int: atomic to read)."""
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._player: Callable[[], PlayerLike | None] = lambda: None

    def start(self, player: Callable[[], PlayerLike | None]) -> None:
        """Start the thread; ``player`` returns the player in use (None: drop audio)."""
        self._player = player
        # A daemon thread: it must never keep a quitting app alive.
        self._thread = threading.Thread(target=self._run, name="talkterm-audio", daemon=True)
        self._thread.start()

    def segment(self, generation: int, fmt: str) -> None:
        """A new segment in ``fmt`` begins."""
        self._queue.put(("segment", generation, fmt))

    def audio(self, generation: int, data: bytes) -> None:
        """Audio bytes of the current segment."""
        self._queue.put(("audio", generation, data))

    def end(self, generation: int) -> None:
        """No more audio for ``generation``."""
        self._queue.put(("end", generation))

    def close(self) -> None:
        """Stop the thread (waits briefly)."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def _run(self) -> None:
        assembler: SegmentAssembler | None = None
        owner = -1
        while (item := self._queue.get()) is not None:
            kind, generation = item[0], item[1]
            if generation != self.generation:
                continue
            if owner != generation:
                assembler, owner = None, generation
            try:
                if kind == "segment":
                    self._play(generation, assembler.finish() if assembler else b"")
                    assembler = SegmentAssembler(item[2])
                elif kind == "audio":
                    assembler = assembler or SegmentAssembler("audio/pcm")
                    self._play(generation, assembler.add(item[2]))
                else:
                    self._play(generation, assembler.finish() if assembler else b"")
                    assembler = None
                    self._finished(generation)
            except DecodeError as exc:
                log.warning("audio segment dropped: %s", exc)
                assembler = None
                self._post(AudioFeed.Failed(str(exc)))
                if kind == "end":
                    self._finished(generation)
            except Exception:  # the thread must survive one bad segment
                log.exception("audio feed failed")
                assembler = None
                if kind == "end":
                    self._finished(generation)

    def _play(self, generation: int, pcm: bytes) -> None:
        player = self._player()
        if pcm and player is not None:
            player.feed(generation, pcm)

    def _finished(self, generation: int) -> None:
        player = self._player()
        if player is not None:
            player.mark_finished(generation)
        self._post(AudioFeed.Drained(generation))


def open_player(
    player: PlayerLike | None, device: str | None, post: Callable[[Message], Any]
) -> None:
    """Open ``player`` (or a real Player on ``device``, a name or index); post what happened.

    Blocking: PortAudio can take a while, so run it in a thread worker.
    """
    from tui.audio.player import Player

    try:
        opened: PlayerLike = player or Player(
            device=int(device) if device and device.isdigit() else device
        )
        opened.open()
    except Exception as exc:  # AudioUnavailable, and PortAudio's undocumented ways to fail
        log.warning("audio output unavailable", exc_info=True)
        post(AudioFeed.Missing(str(exc)))
    else:
        post(AudioFeed.Opened(opened))


class QuietCollector:
    """Keeps full garbage collections out of answers.

    A full collection holds the GIL for as long as it scans every object (0.4 s
    with a few hundred turns on screen), and PortAudio's callback needs the GIL:
    the speaker would run dry. So automatic full collections are off; between
    answers we collect and freeze what survived, so the next collection only
    scans what is new. Textual's own pause-GC-while-scrolling leaves this alone.
    """

    def __init__(self) -> None:
        self._saved: tuple[int, int, int] | None = None

    def start(self) -> None:
        """Stop automatic full collections (young generations still collect)."""
        self._saved = gc.get_threshold()
        gc.set_threshold(self._saved[0], self._saved[1], 1_000_000_000)
        gc.freeze()

    def between_answers(self) -> None:
        """Collect what is new since the last freeze, then freeze the survivors."""
        if self._saved is not None:
            gc.collect()
            gc.freeze()

    def stop(self) -> None:
        """Give the interpreter its usual collector back."""
        if self._saved is not None:
            gc.unfreeze()
            gc.set_threshold(*self._saved)
            self._saved = None
