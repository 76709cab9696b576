"""The app's sound: decode what the server sends and play it, off the UI thread.

``PlayerLike`` is the interface (a real ``player.Player`` on sounddevice, or a test's
recording double); ``decoder`` turns segments into PCM, ``feed`` runs the decoding
thread between the app and the player, ``playback`` holds them together for the app
with the *generation* number that silences a stopped answer. ``MicrophoneLike`` is
the other way: ``mic.Microphone`` records while the app listens.
"""

from __future__ import annotations

from typing import Protocol


class PlayerLike(Protocol):
    """The part of ``tui.audio.player.Player`` the app uses (tests pass a recording double)."""

    @property
    def underruns(self) -> int:
        """Times the speaker ran dry mid-answer."""
        ...

    @property
    def played_ms(self) -> float:
        """Audio the speaker has played in this generation, in ms."""
        ...

    @property
    def buffered_ms(self) -> float:
        """Audio fed but not yet played, in ms."""
        ...

    def open(self) -> None: ...
    def begin(self, generation: int) -> None: ...
    def feed(self, generation: int, pcm: bytes) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def stop(self) -> float: ...
    def mark_finished(self, generation: int) -> None: ...
    def close(self) -> None: ...


class MicrophoneLike(Protocol):
    """The part of ``tui.audio.mic.Microphone`` the app uses (tests pass a scripted one)."""

    def open(self) -> None: ...
    def close(self) -> None: ...
    def drain(self) -> bytes: ...
