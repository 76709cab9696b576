"""deploy/haproxy.cfg: valid as shipped, and as rendered for a server's own workers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server import protocol as p
from server.errors import HAProxyRefused
from server.scale import haproxy
from tests.scale.test_workers import pytestmark as _needs_haproxy

pytestmark = _needs_haproxy


async def test_the_template_as_shipped_is_valid(tmp_path: Path) -> None:
    # As an operator uses it, with only the runtime socket moved somewhere writable.
    text = haproxy.render(
        haproxy.template(),
        "127.0.0.1:8765",
        [haproxy.Backend("m1", "10.0.0.11", 8765)],
        tmp_path / "s",
    )
    assert "server m1 10.0.0.11:8765" in text
    assert "use-server m1 if { urlp(talkterm_session) -m beg sess_m1_ }" in text
    assert p.new_session_id("m1").startswith("sess_m1_")  # what m1 issues is what is matched
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)
    await haproxy.check(config)
    shipped = Path(haproxy.__file__).parents[2] / "deploy" / "haproxy.cfg"
    proc = await asyncio.create_subprocess_exec(haproxy.binary(), "-c", "-q", "-f", str(shipped))
    assert await proc.wait() == 0


def test_rendering_replaces_only_the_marked_blocks(tmp_path: Path) -> None:
    backends = [haproxy.Backend(f"w{n}", "127.0.0.1", 9000 + n) for n in (1, 2)]
    text = haproxy.render(haproxy.template(), "[::1]:8765", backends, tmp_path / "s")
    assert "bind [::1]:8765" in text and "server m1" not in text and "use-server m1" not in text
    assert text.count("use-server w") == 2 and "server w2 127.0.0.1:9002" in text
    assert "timeout tunnel 1h" in text  # the rest as written


def test_a_worker_id_that_would_break_the_rule_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HAProxyRefused, match="worker id"):
        haproxy.render(
            haproxy.template(),
            "127.0.0.1:1",
            [haproxy.Backend("w1 } or {", "127.0.0.1", 1)],
            tmp_path / "s",
        )
