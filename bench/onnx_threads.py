"""ONNX Runtime thread settings for Piper: synthesis time against idle CPU, measured.

Each setting runs in a worker process of its own (a spinning thread pool would
otherwise steal CPU from the others' runs). Rounds are interleaved: in every
round each worker, in turn, waits ``--gap`` s (the pause before an answer, when
spinning threads have gone quiet or not) and then synthesises the opening
sentence once, timed. At the end every worker sits idle for ``--idle`` s and its
CPU use over that time is read from /proc.

Reproduce (from the repository root)::

    uptime
    .venv/bin/python bench/onnx_threads.py                 # 20 rounds, markdown on stdout
    .venv/bin/python bench/onnx_threads.py --rounds 5      # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server_bench import pct  # noqa: E402

SENTENCE = "The quick brown fox jumps over the lazy dog."
TICKS = os.sysconf("SC_CLK_TCK")
# name → session config entries (threads: ONNX intra-op threads per run).
SETTINGS: dict[str, dict[str, str]] = {
    "spin off (before)": {"session.intra_op.allow_spinning": "0"},
    "spin on": {"session.intra_op.allow_spinning": "1"},
    "spin on, stop after each run": {
        "session.intra_op.allow_spinning": "1",
        "session.force_spinning_stop": "1",
    },
}


def worker(entries: dict[str, str], threads: int) -> None:
    """Load the default voice with ``entries``; time one synthesis per line read on stdin."""
    import onnxruntime
    from piper.config import PiperConfig
    from piper.voice import PiperVoice

    from server.speech.piper import DEFAULT_VOICE, _phoneme_ids, _synthesize_ids, find_voices

    files = find_voices()[DEFAULT_VOICE]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    for key, value in entries.items():
        options.add_session_config_entry(key, value)
    session = onnxruntime.InferenceSession(
        str(files.model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    config = PiperConfig.from_dict(json.loads(files.config.read_text()))
    model = PiperVoice(session=session, config=config)
    ids = _phoneme_ids(model, SENTENCE)
    for ids_once in _phoneme_ids(model, "Hello."):
        _synthesize_ids(model, ids_once, 1.0, None, None)  # warm, as PiperTTS does
    print("ready", flush=True)
    for _ in sys.stdin:
        began = time.perf_counter()
        for sentence in ids:
            _synthesize_ids(model, sentence, 1.0, None, None)
        print(f"{(time.perf_counter() - began) * 1000:.2f}", flush=True)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def main(rounds: int, gap: float, idle: float, threads: int) -> None:
    procs: dict[str, subprocess.Popen[str]] = {}
    for name, entries in SETTINGS.items():
        procs[name] = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(entries), "--threads", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert procs[name].stdout is not None and procs[name].stdout.readline().strip() == "ready"
    took: dict[str, list[float]] = {name: [] for name in procs}
    for _ in range(rounds):
        for name, proc in procs.items():
            assert proc.stdin is not None and proc.stdout is not None
            time.sleep(gap)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            took[name].append(float(proc.stdout.readline()))
    time.sleep(1.0)
    before = {name: cpu_s(proc.pid) for name, proc in procs.items()}
    time.sleep(idle)
    after = {name: cpu_s(proc.pid) for name, proc in procs.items()}
    print(f"| setting ({threads} threads) | n | p50 ms | p90 ms | idle CPU % of a core |")
    print("|---|---|---|---|---|")
    for name, values in took.items():
        idle_pct = (after[name] - before[name]) / idle * 100
        print(
            f"| {name} | {len(values)} | {statistics.median(values):.0f} "
            f"| {pct(values, 0.9):.0f} | {idle_pct:.2f} |"
        )
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.5, help="idle seconds before each run")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(json.loads(args.worker), args.threads)
    else:
        main(args.rounds, args.gap, args.idle, args.threads)
