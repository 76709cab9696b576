"""Fixtures for the virtual sound card rig (tests/helpers/audio_rig.py describes it)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from tests.helpers.audio_rig import record, start_null_sink
from tests.helpers.recording import Recording


@pytest.fixture(scope="session")
def null_sink() -> dict[str, str]:
    """The talkterm_test null sink is the default output; returns the exported variables."""
    for tool in ("pulseaudio", "parec"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)")
    return start_null_sink()


@pytest.fixture
def recorder(null_sink: dict[str, str]) -> Callable[..., AbstractContextManager[Recording]]:
    """``with recorder() as rec:`` records the null sink while the block runs."""
    return record
