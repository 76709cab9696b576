"""The README's screenshots come from scripts/screenshots.py and match what the app shows now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("idle", "streaming", "paused")


def test_screenshots_are_regenerated_by_the_script_and_up_to_date(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "scripts/screenshots.py", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in NAMES:
        made = (tmp_path / f"{name}.svg").read_text(encoding="utf-8")
        assert made.startswith("<svg") and len(made) > 1000, name
        stale = "assets are stale: run .venv/bin/python scripts/screenshots.py"
        assert (ROOT / "assets" / f"{name}.svg").read_text(encoding="utf-8") == made, stale
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"assets/{name}.svg" in readme for name in NAMES)


def test_screenshots_hold_no_secret() -> None:
    for name in NAMES:
        svg = (ROOT / "assets" / f"{name}.svg").read_text(encoding="utf-8").lower()
        assert "token" not in svg and "sk-" not in svg and "bearer" not in svg, name
