"""The two halves stay apart: checked by import-linter and by what an import loads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def loaded_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout))


def test_server_never_loads_textual_or_sounddevice() -> None:
    modules = loaded_after("import server.app, server.cli")
    assert not {m for m in modules if m.split(".")[0] in {"textual", "sounddevice", "tui"}}


def test_tui_loads_only_the_protocol_from_the_server() -> None:
    modules = loaded_after("import tui.app, tui.cli")
    assert {m for m in modules if m.startswith("server")} <= {
        "server",
        "server.protocol",
        "server.errors",
    }
    assert "httpx" not in modules


def test_import_linter_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is a test dependency"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every contract in pyproject.toml was checked and kept: none dropped by a typo or a rename.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = len(config["tool"]["importlinter"]["contracts"])
    assert f"Contracts: {declared} kept, 0 broken." in result.stdout, result.stdout
