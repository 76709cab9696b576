"""Start-up of the terminal app as a person sees it: launch → connected, voice named.

Runs the real ``talkterm`` (which starts its own companion server) in a private tmux
server, RUNS times, and reads the screen every 20 ms until the status line says
● connected and names the speech engine. The server loads and warms the voice before it
says it is ready, so from then on the first answer speaks at full speed.

    .venv/bin/python bench/app_startup.py [--runs 5] [--tts piper|espeak]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers.tmux import Tmux, talkterm_command  # noqa: E402


async def once(tts: str, run: int) -> float:
    """Seconds from launch until the status line says connected and names the engine."""
    with tempfile.TemporaryDirectory() as tmp:
        command = talkterm_command(Path(tmp), TALKTERM_TTS=tts)
        tmux = Tmux(f"talkterm-startup-{os.getpid()}-{run}", Path(tmp) / "state")
        started = time.perf_counter()
        await tmux.run("new-session", "-d", "-x", "100", "-y", "30", command)
        try:
            return await _until(tmux, ("● connected", f"│ {tts}"), started)
        finally:
            await tmux.run("kill-server", check=False)


async def _until(tmux: Tmux, words: tuple[str, ...], started: float) -> float:
    deadline = started + 60
    while time.perf_counter() < deadline:
        screen = await tmux.screen()
        if all(word in screen for word in words):
            return time.perf_counter() - started
        await asyncio.sleep(0.02)
    raise SystemExit(f"{words!r} never appeared")


async def main(runs: int, tts: str) -> None:
    """Print the median and the worst start-up."""
    times = [await once(tts, run) for run in range(runs)]
    print(f"{tts}: launch → connected, voice named: median {statistics.median(times):.2f} s, "
          f"worst {max(times):.2f} s (N={runs})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tts", default="piper", choices=["piper", "espeak"])
    arguments = parser.parse_args()
    asyncio.run(main(arguments.runs, arguments.tts))
