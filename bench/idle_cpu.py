"""Bench: what the idle app costs (CPU), and how soon the next answer is heard after idling.

The real ``talkterm`` runs in a private tmux server, with its companion server on
the demo responder and espeak-ng, playing into this process's PulseAudio null
sink (tests/helpers/audio_rig.py). Measured:

- idle CPU: once connected and quiet (``--settle`` s), the app's utime+stime from
  /proc/PID/stat over ``--seconds`` s, as % of one core (target ≤ 0.3 %); the
  companion server's, for comparison;
- first audio after idle: the Send key written to the terminal → the first
  non-silent 10 ms window on the sink's monitor, for ``--runs`` questions, each
  asked after ``--idle`` s of silence (long enough for the output stream to rest).

Reproduce (from the repo root)::

    .venv/bin/python bench/idle_cpu.py
    .venv/bin/python bench/idle_cpu.py --seconds 60 --runs 10
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.audio_rig import record, start_null_sink
from tests.helpers.recording import Recording

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
SEND, STOP = "F9", "F8"
"""The bench maps Send and Stop to these in its config file, whatever the default keys are."""
SILENT_END_S = 0.5
"""A stopped answer counts as over once the sink has been silent this long."""


class Pane:
    """talkterm in one tmux pane of a private tmux server."""

    def __init__(self, home: Path) -> None:
        self.socket = f"talkterm-bench-{os.getpid()}"
        self.log = home / "state" / "talkterm" / "talkterm.log"
        config = home / "config" / "talkterm"
        config.mkdir(parents=True)
        keymap = f'[keymap]\nstart = "{SEND.lower()}"\nstop = "{STOP.lower()}"\n'
        # espeak-ng, as the figures in docs/benchmarks.md were measured (Piper is the default now).
        (config / "config.toml").write_text(keymap + '\n[companion]\ntts = "espeak"\n')
        env = {
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_STATE_HOME": str(home / "state"),
            "TALKTERM_TTS": "espeak",
            "TALKTERM_PROBE_LOCAL": "false",
            "TALKTERM_LOCAL_LLM": "false",
            "OPENAI_API_KEY": "",
            "TERM": "xterm-256color",
        }
        env |= {k: v for k, v in os.environ.items() if k.startswith(("PULSE_", "XDG_RUNTIME"))}
        # -m from the root: this checkout's app and companion, whatever is installed.
        command = "exec env " + " ".join(f"{k}={v}" for k, v in env.items())
        command += f" {sys.executable} -m tui"
        self.tmux("new-session", "-d", "-x", "120", "-y", "32", "-c", str(ROOT), command)
        self.pid = int(self.tmux("display", "-p", "#{pane_pid}").strip())

    def tmux(self, *args: str) -> str:
        """Run a tmux command on the private server."""
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        )
        return done.stdout

    def wait_screen(self, pattern: str, timeout: float = 30.0) -> None:
        """Wait until ``pattern`` shows in the pane."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, screen := self.tmux("capture-pane", "-p")):
            if time.monotonic() > deadline:
                raise SystemExit(f"{pattern!r} never appeared:\n{screen}")
            time.sleep(0.1)

    def server_pid(self) -> int | None:
        """The companion server's pid, as the app logged it."""
        found = re.findall(r"companion server pid (\d+)", self.log.read_text())
        return int(found[-1]) if found else None

    def close(self) -> None:
        """Quit talkterm and the tmux server."""
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], check=False)


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` so far, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def idle_cpu(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """% of one core each process used over ``seconds``."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - started
    return {name: (cpu_seconds(pid) - before[name]) / wall * 100 for name, pid in pids.items()}


def first_sound_ms(rec: Recording, since_ms: float) -> float | None:
    """ms from ``since_ms`` (recording time) to the first loud window after it."""
    for index, loud in enumerate(rec.loud_windows()):
        if loud and index * 10 >= since_ms:
            return index * 10 - since_ms
    return None


def ask_after_idle(pane: Pane, question: str, timeout: float = 30.0) -> float:
    """Ask one question; ms from the key to the first sound; then stop the answer."""
    with record(tail_ms=0, latency_ms=2) as rec:
        pane.tmux("send-keys", "-l", question)
        time.sleep(0.2)  # let the prompt take the text before the key that sends it
        pane.tmux("send-keys", SEND)
        sent_ms = rec.ms_at(time.monotonic())
        deadline = time.monotonic() + timeout
        while (latency := first_sound_ms(rec, sent_ms)) is None:
            if time.monotonic() > deadline:
                raise SystemExit("no sound reached the sink")
            time.sleep(0.01)
        pane.tmux("send-keys", STOP)
        while rec.loud_windows()[-int(SILENT_END_S * 100) :].count(True):
            time.sleep(0.1)
    return latency


def main() -> None:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="idle CPU window")
    parser.add_argument(
        "--settle",
        type=float,
        default=12.0,
        help="quiet time before measuring (the cursor blinks for 10 s after the last key)",
    )
    parser.add_argument("--runs", type=int, default=5, help="questions asked after idling")
    parser.add_argument("--idle", type=float, default=4.0, help="silence before each question")
    args = parser.parse_args()
    if not shutil.which("tmux") or not shutil.which("espeak-ng"):
        raise SystemExit("needs tmux and espeak-ng")
    start_null_sink()
    with tempfile.TemporaryDirectory() as home:
        pane = Pane(Path(home))
        try:
            pane.wait_screen(r"connected")
            time.sleep(args.settle)
            pids = {"app": pane.pid}
            if (server := pane.server_pid()) is not None:
                pids["companion server"] = server
            for name, share in idle_cpu(pids, args.seconds).items():
                print(f"idle CPU, {name}: {share:.2f} % of one core over {args.seconds:.0f} s")
            latencies = []
            for run in range(args.runs):
                time.sleep(args.idle)
                latencies.append(ask_after_idle(pane, f"Question {run}?"))
            if not latencies:
                return
            print(
                f"first audio after {args.idle:.0f} s idle, key → sink (N={len(latencies)}): "
                f"p50 {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms, "
                f"all {[round(x) for x in latencies]}"
            )
        finally:
            pane.close()


if __name__ == "__main__":
    main()
