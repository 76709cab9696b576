"""The layers contracts bite: an import that runs upward, in a copy of the tree, breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

UPWARD = [
    # (module that must not import upward, the upward import)
    ("tui/widgets/status_line.py", "from tui.app.answer import Ending"),
    ("tui/link/resume.py", "from tui.widgets.greeting import Greeting"),
    ("tui/audio/decoder.py", "from tui.link.events import modality"),
    ("tui/states.py", "from tui.keys import APP_KEYS"),
    ("server/speech/sentences.py", "from server.session.outbox import Outbox"),
]


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's verdict on the tree at ``tree``."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is a test dependency"
    return subprocess.run([lint], cwd=tree, capture_output=True, text=True)


@pytest.mark.parametrize(("module", "statement"), UPWARD)
def test_an_upward_import_breaks_the_layers(tmp_path: Path, module: str, statement: str) -> None:
    tree = tmp_path / "tree"
    for part in ("server", "tui"):
        shutil.copytree(ROOT / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree)
    target = tree / module
    # At the end of the module: grimp reads every import statement, wherever it stands.
    target.write_text(target.read_text() + f"\n{statement}\n")
    result = lint(tree)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout


def test_the_real_tree_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
