"""Bench: key → action latency and audio underruns while a long transcript streams.

Reproduce (from the repo root)::

    .venv/bin/python bench/tui_keys.py                 # simulated sound card
    eval "$(scripts/audio-sink.sh)" && .venv/bin/python bench/tui_keys.py --real-audio
    BENCH_TURNS=0 .venv/bin/python bench/tui_keys.py   # another history size

Exit status 0 when both targets are met.

The app runs headless (layout and rendering still happen) with 500 earlier
turns in its transcript. A new answer then streams 200 text deltas a second
while its audio arrives in 100 ms pieces only 300 ms ahead of the speaker, and
Pause/Resume keys are pressed every 150 ms from another thread, as the
terminal driver's input thread does. Measured:

- key → action: from posting the key event to the action method starting
  (target ≤ 50 ms at the 95th percentile);
- underruns of the player (target 0). With ``--real-audio`` the real Player
  plays into PortAudio; otherwise a Python thread stands in for PortAudio's
  callback, waking every 20 ms and taking one block, so it competes for the
  GIL exactly as the real callback does. Its worst wake-up lateness is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events

from server import protocol as p
from tui.app import Talkterm
from tui.config import Settings
from tui.errors import NotConnected
from tui.link.websocket import Connection
from tui.widgets.transcript import TranscriptView, TurnRecord

BLOCK_MS = 20
HISTORY_TURNS = int(__import__("os").environ.get("BENCH_TURNS", 500))
DELTAS_PER_S = 200
SECONDS = 6.0
KEY_EVERY_S = 0.15
AUDIO_LEAD_MS = 300
PIECE_MS = 100
EARLIER = (
    "Sure. Here is **one** way to do it:\n\n- warm the pot\n- add the leaves\n\n"
    "Then pour water that has *just* boiled, and wait four minutes."
)


class ClockPlayer:
    """Stands in for PortAudio: a thread takes one 20 ms block every 20 ms."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = 0.0
        self._generation: int | None = None
        self._paused = False
        self._finished = False
        self._played = 0.0
        self._started = False
        self.underruns = 0
        self.worst_late_ms = 0.0
        self._run = True
        self._thread = threading.Thread(target=self._callback_loop, daemon=True)

    def open(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._run = False

    def begin(self, generation: int) -> None:
        with self._lock:
            self._generation, self._buffer, self._played = generation, 0.0, 0.0
            self._paused = self._finished = self._started = False

    def feed(self, generation: int, pcm: bytes) -> None:
        with self._lock:
            if generation == self._generation:
                self._buffer += p.pcm_ms(len(pcm))

    def pause(self) -> None:
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def stop(self) -> float:
        with self._lock:
            self._buffer, self._generation = 0.0, None
            return self._played

    def mark_finished(self, generation: int) -> None:
        with self._lock:
            self._finished = True

    @property
    def played_ms(self) -> float:
        with self._lock:
            return self._played

    @property
    def buffered_ms(self) -> float:
        with self._lock:
            return self._buffer

    def _callback_loop(self) -> None:
        due = time.perf_counter()
        while self._run:
            due += BLOCK_MS / 1000
            time.sleep(max(0.0, due - time.perf_counter()))
            self.worst_late_ms = max(self.worst_late_ms, (time.perf_counter() - due) * 1000)
            with self._lock:
                if self._paused or self._generation is None:
                    continue
                if self._buffer >= BLOCK_MS:
                    self._buffer -= BLOCK_MS
                    self._played += BLOCK_MS
                    self._started = True
                elif self._started and not self._finished:
                    self.underruns += 1
                    self._played += self._buffer
                    self._buffer = 0.0


class BenchLink:
    """A link that is up at once and swallows what the app sends."""

    resumable = False

    def __init__(self, app: Talkterm) -> None:
        self.app = app
        self.connected = False

    def send(self, event: dict[str, Any]) -> None:
        if not self.connected:
            raise NotConnected("bench link is down")

    async def run(self) -> None:
        self.connected = True
        self.app.post_message(Connection.Connected("ws://bench"))
        self.app.post_message(Connection.SessionStarted("bench", "bench", False))
        await asyncio.Event().wait()

    async def close(self) -> None:
        self.connected = False


class TimedApp(Talkterm):
    """Notes when the pause and resume actions start."""

    CSS_PATH = str(Path(sys.modules[Talkterm.__module__].__file__ or "").with_name("app.tcss"))
    pressed_at = 0.0
    latencies: list[float] = []  # noqa: RUF012 - one app per run

    def action_pause(self) -> None:
        self.latencies.append((time.perf_counter() - self.pressed_at) * 1000)
        super().action_pause()

    async def action_resume(self) -> None:
        self.latencies.append((time.perf_counter() - self.pressed_at) * 1000)
        await super().action_resume()


async def fill_history(app: Talkterm) -> None:
    records: list[TurnRecord] = []
    for index in range(HISTORY_TURNS):
        records += [
            TurnRecord("user", f"Question number {index}?"),
            TurnRecord("assistant", EARLIER),
        ]
    await app.query_one(TranscriptView).load(records)


async def stream(app: Talkterm) -> int:
    """200 deltas/s of text, audio kept AUDIO_LEAD_MS ahead; returns deltas sent."""
    rid, started, sent, audio_ms = "resp_bench", time.perf_counter(), 0, 0.0
    app.post_message(Connection.ResponseStarted(rid))
    app.post_message(Connection.SegmentAnnounced(rid, 0, 0, 10, 0.0, "audio/pcm"))
    while (elapsed := time.perf_counter() - started) < SECONDS:
        while sent < elapsed * DELTAS_PER_S:
            app.post_message(
                Connection.TextArrived(rid, f"word{sent} " + ("\n\n" * (sent % 40 == 39)))
            )
            sent += 1
        # Audio only from the pieces of wall time the speaker was not paused.
        while audio_ms < (app.player.played_ms or 0) + AUDIO_LEAD_MS:  # type: ignore[union-attr]
            app.post_message(Connection.AudioArrived(rid, bytes(int(PIECE_MS * 48))))
            audio_ms += PIECE_MS
        await asyncio.sleep(0.005)
    # The end of the answer: running dry after this is the end, not an underrun.
    app.post_message(Connection.ResponseFinished(rid, "completed"))
    return sent


def press_keys(app: TimedApp, stop: threading.Event) -> None:
    """From another thread, as a terminal driver does: Pause/Resume every 150 ms."""
    time.sleep(0.5)
    while not stop.wait(KEY_EVERY_S):
        key = "ctrl+o" if app.state == "streaming" else "ctrl+r"
        app.pressed_at = time.perf_counter()
        app.post_message(events.Key(key, None))


async def main(real_audio: bool) -> int:
    if real_audio:
        from tui.audio.player import Player

        player: Any = Player()
    else:
        player = ClockPlayer()
    settings = Settings(server="ws://bench", snapshot_mode=True)
    app = TimedApp(settings, player=player, link_factory=BenchLink)
    async with app.run_test(size=(120, 40)) as pilot:
        while not (app.link_state == "connected" and app.audio_ok):
            await pilot.pause(0.05)
        started = time.perf_counter()
        await fill_history(app)
        history_s = time.perf_counter() - started
        app.query_one("PromptBox").text = "Bench question"  # type: ignore[attr-defined]
        await app.run_action("start")
        while app.answer is None:
            await pilot.pause(0.01)
        underruns_before = player.underruns
        stop = threading.Event()
        presser = threading.Thread(target=press_keys, args=(app, stop), daemon=True)
        presser.start()
        sent = await stream(app)
        stop.set()
        presser.join()
        text = app.answer.turn.text if app.answer else ""
        # Read before the answer settles: the collector then runs a (silent) full GC.
        late_ms = getattr(player, "worst_late_ms", 0.0)
        await pilot.pause(0.5)
        lat = sorted(TimedApp.latencies)
        underruns = player.underruns - underruns_before
    p95 = lat[int(len(lat) * 0.95) - 1] if lat else float("nan")
    print(f"history: {HISTORY_TURNS} turns mounted in {history_s:.2f} s")
    print(f"streamed: {sent} deltas in {SECONDS:.0f} s ({sent / SECONDS:.0f}/s), "
          f"{len(text)} chars shown")  # fmt: skip
    print(f"key → action: n={len(lat)} median {statistics.median(lat):.1f} ms, "
          f"p95 {p95:.1f} ms, max {lat[-1]:.1f} ms (target p95 ≤ 50 ms)")  # fmt: skip
    print(
        f"underruns: {underruns} (target 0)"
        + (f"; worst callback lateness while streaming {late_ms:.1f} ms" if not real_audio else "")
    )
    return 0 if p95 <= 50 and underruns == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-audio", action="store_true", help="play through PortAudio")
    sys.exit(asyncio.run(main(parser.parse_known_args()[0].real_audio)))
