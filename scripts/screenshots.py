"""Regenerate the README's screenshots in assets/: the idle, streaming and paused screens.

They are made the way the snapshot tests make theirs: the real app, driven headlessly
on a scripted link (no server, no token, no network) with a player whose clock stands
still, so each picture is the same on every run.

    .venv/bin/python scripts/screenshots.py [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The scenes are the snapshot tests' own, so the README shows what the tests check.
from tests.helpers.player import FakePlayer  # noqa: E402
from tests.helpers.scenes import SIZE, connected, paused, streaming  # noqa: E402
from tests.helpers.tui_app import scripted_app  # noqa: E402
from tui.app import Talkterm  # noqa: E402

Scene = Callable[[Talkterm, FakePlayer, Any], Awaitable[None]]


async def _idle(app: Talkterm, player: FakePlayer, pilot: Any) -> None:
    await connected(app, pilot)


SCENES: dict[str, Scene] = {"idle": _idle, "streaming": streaming, "paused": paused}


async def shoot(name: str, scene: Scene, out: Path) -> Path:
    """Drive a fresh app into ``scene`` and save its screen as ``out/name.svg``."""
    player = FakePlayer(speed=0)
    app = scripted_app(player)
    async with app.run_test(size=SIZE) as pilot:
        await scene(app, player, pilot)
        await pilot.pause()
        path = out / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"talkterm — {name}"), encoding="utf-8")
    return path


def main(out: Path) -> None:
    """Write every scene's screenshot to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, scene in SCENES.items():
        print(asyncio.run(shoot(name, scene, out)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets", help="default: assets/")
    main(parser.parse_args().out)
