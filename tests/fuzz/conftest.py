"""Fuzz fixtures: a deterministic hypothesis profile, a routed upstream, servers with a bystander.

Hypothesis runs every example of a test inside the same pytest-asyncio event
loop, with the function-scoped fixtures set up once per test. So each test
starts one server (and one bystander session streaming beside it), and each
example opens a fresh client of its own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, Phase, settings

from server.app import Server
from tests.fuzz.harness import Arena
from tests.fuzz.session_tools import Bystander, ErrorLog
from tests.fuzz.upstream import RoutedLLM
from tests.helpers.server import make_settings

# Derandomized and without a database: every run of the same code with the same tests
# collected tries the same examples. Not across those: Hypothesis also draws constants
# found in the project's imported modules, so a whole-suite run (or any code change)
# tries other examples than running tests/fuzz alone. A failure found that way is
# kept as an @example.
# Shrinking is off unless FUZZ_SHRINK=1: a hang costs seconds per try, so shrinking
# one could take minutes; the failing program is printed either way.
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate]
settings.register_profile(
    "talkterm-fuzz",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    phases=[*_PHASES, Phase.shrink] if os.environ.get("FUZZ_SHRINK") == "1" else _PHASES,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # shared on purpose: one server per test
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


@pytest.fixture
async def routed_llm() -> AsyncIterator[RoutedLLM]:
    """The fuzzed servers' upstream, routing the bystander's prompts to their own answer."""
    async with RoutedLLM() as fake:
        yield fake


async def _arena(llm: RoutedLLM, tts: str) -> AsyncIterator[Arena]:
    # A stalled reply must outlive an example without timing out upstream.
    config = make_settings(
        llm_base_url=llm.base_url, llm_model="fake-model", tts=tts, read_timeout=30.0
    )
    async with Server(config) as server:
        with ErrorLog() as log:
            bystander = await Bystander.open(server)
            yield Arena(server, llm, bystander, log, tts=tts != "none")
            await bystander.close()
            # Drop upstream streams left running by the known cancel-before-start bug,
            # or closing the server waits for their read timeout.
            await llm.stop()
            log.check()


@pytest.fixture
async def quiet_arena(routed_llm: RoutedLLM) -> AsyncIterator[Arena]:
    """A server without speech: fast enough for many examples."""
    async for arena in _arena(routed_llm, "none"):
        yield arena


@pytest.fixture
async def espeak_arena(routed_llm: RoutedLLM) -> AsyncIterator[Arena]:
    """A server speaking with espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    async for arena in _arena(routed_llm, "espeak"):
        yield arena
