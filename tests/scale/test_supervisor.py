"""The supervisor's side of a worker's start, with real child processes standing in for
workers: a first line that is not a ready line, and a worker that talks a lot afterwards."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from server.config import Settings
from server.errors import WorkerFailed
from server.scale.supervisor import Child, Supervisor, parse_ready
from tests.helpers.waiting import wait_for
from tests.scale.test_workers import alive
from tests.scale.test_workers import pytestmark as _needs_haproxy

pytestmark = _needs_haproxy  # start() looks for HAProxy first

READY = json.dumps({"listening": "ws://127.0.0.1:4321/v1/realtime"})


def test_a_ready_line_gives_the_workers_port_and_anything_else_a_plain_error() -> None:
    ready, port = parse_ready("w1", READY.encode() + b"\n")
    assert port == 4321 and ready["listening"].startswith("ws://")
    for line in (b"Loading Piper...\n", b"[1, 2]\n", b'{"pid": 7}\n', b'{"listening": 5}\n'):
        with pytest.raises(WorkerFailed, match=r"worker w1 printed .* instead of its ready line"):
            parse_ready("w1", line)


def stand_in(monkeypatch: pytest.MonkeyPatch, scripts: dict[str, str]) -> None:
    """Each worker runs its Python script from ``scripts`` instead of the server."""

    def command(self: Supervisor, worker: Child) -> list[str]:
        return [sys.executable, "-c", scripts[worker.name]]

    monkeypatch.setattr(Supervisor, "_worker_command", command)


async def test_a_worker_that_prints_garbage_stops_the_start_and_leaves_no_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stand_in(
        monkeypatch,
        {"w1": "import time; time.sleep(600)", "w2": "print('Loading...', flush=True); input()"},
    )
    boss = Supervisor(Settings(workers=2), [], None)
    with pytest.raises(WorkerFailed, match=r"worker w2 printed .Loading\.\.\.. instead"):
        await boss.start()
    pids = [w.proc.pid for w in boss.workers if w.proc is not None]
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)
    await boss.stop()
    assert not boss.runtime_dir.exists()


async def test_a_ready_worker_may_write_more_than_a_pipe_holds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    done = tmp_path / "done"
    script = (
        f"import sys; print({READY!r}, flush=True); "
        f"sys.stdout.write('x' * (1 << 20)); sys.stdout.flush(); open({str(done)!r}, 'w'); "
        "import time; time.sleep(600)"
    )
    stand_in(monkeypatch, {"w1": script})
    boss = Supervisor(Settings(workers=1), [], None)
    worker = boss.workers[0]
    await boss._start_worker(worker)
    assert worker.port == 4321
    await wait_for(None, done.exists, what="the worker got past 1 MiB of stdout")
    await boss.stop()
    assert worker.proc is not None and not alive(worker.proc.pid)
