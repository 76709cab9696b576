"""Soak: 50 sessions asking again and again for 10 minutes; does anything grow or leak?

Reproduce (from the repository root):

    .venv/bin/python bench/soak.py                  # 10 minutes, then the cool-down
    .venv/bin/python bench/soak.py --quick          # 1 minute
    .venv/bin/python bench/soak.py --minutes 30 --sessions 100

Same three processes as bench/load.py (server, fakes, clients). Each session asks, reads the
answer (three sentences, with audio from the fake speech server) to its response.done, thinks
for about a second, and asks again; its history grows with every turn, so after ``--turns``
turns it hangs up and starts a new session (requests stay bounded). Every 10 s the server's RSS,
open fds and threads are sampled from /proc. At the end every client closes and the server is
watched until its sessions have outlived the resume grace period: client sockets must be gone
and the fds back to the baseline (idle upstream keep-alive sockets of httpx's pools listed apart).
The server has no endpoint for asyncio task counts; a leaked session or response would hold its
WebSocket or an upstream socket, so tasks are checked through fds/sockets returning to baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import (
    ANSWERS,
    Fakes,
    Sample,
    answer_text,
    cpu_percent,
    fd_kinds,
    machine_sample,
    pct,
    raise_fd_limit,
    sample,
    start_server,
)
from bench.load import Turn, ask, open_session


@dataclass
class Tally:
    """What the clients saw, summed over the soak."""

    turns: int = 0
    connections: int = 0
    live: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    not_completed: int = 0
    mismatched: int = 0
    failures: list[str] = field(default_factory=list)
    deltas: dict[str, list[float]] = field(default_factory=dict)
    ttfa_ms: list[float] = field(default_factory=list)

    def record(self, turn: Turn) -> None:
        """Count one finished turn; keep only its delta times."""
        self.turns += 1
        self.errors.update(turn.errors)
        self.not_completed += turn.status != "completed"
        self.mismatched += "".join(turn.text) != turn.expected
        self.deltas[turn.tag] = turn.deltas
        if turn.first_audio is not None:
            self.ttfa_ms.append((turn.first_audio - turn.created) * 1000)


async def session_loop(index: int, url: str, args: argparse.Namespace, deadline: float,
                       tally: Tally) -> None:  # fmt: skip
    """One client: sessions of ``args.turns`` turns each, until the deadline."""
    generation = 0
    while time.perf_counter() < deadline:
        try:
            client = await open_session(url, args.timeout, not args.no_deflate)
        except Exception as exc:
            tally.failures.append(f"connect: {type(exc).__name__}: {exc}")
            await asyncio.sleep(1)
            continue
        tally.connections += 1
        tally.live += 1
        try:
            for number in range(args.turns):
                if time.perf_counter() >= deadline:
                    break
                first = (index + generation + number) % len(ANSWERS)
                turn = Turn(f"s{index:03d}g{generation:04d}t{number:02d}", answer_text(first, 1))
                tally.record(await ask(client, turn, first, 1, args.timeout))
                await asyncio.sleep(random.uniform(0.5, 1.5) * args.think)
        except Exception as exc:  # a broken session is a figure, not a crash
            tally.failures.append(f"turn: {type(exc).__name__}: {exc}")
        finally:
            await client.close()
            tally.live -= 1
        generation += 1


@dataclass
class Row:
    """One 10-second sample of the server, with what the clients had done by then."""

    at_s: float
    proc: Sample
    cpu: float
    others: float
    live: int
    turns: int


async def watch(pids: list[int], start: float, tally: Tally, rows: list[Row], every: float) -> None:
    """Sample the server (``pids[0]``) every ``every`` seconds until cancelled.

    ``others`` is the CPU the rest of the machine used: not the server, fakes or clients.
    """
    last, last_all = [sample(pid) for pid in pids], machine_sample()
    while True:
        await asyncio.sleep(every)
        now, now_all = [sample(pid) for pid in pids], machine_sample()
        ours = sum(cpu_percent(a, b) for a, b in zip(last, now, strict=True))
        others = cpu_percent(last_all, now_all) - ours
        cpu = cpu_percent(last[0], now[0])
        rows.append(Row(now[0].at - start, now[0], cpu, others, tally.live, tally.turns))
        last, last_all = now, now_all


async def run(args: argparse.Namespace) -> str:
    """Soak, cool down, and report."""
    raise_fd_limit()
    fakes = await Fakes.start(delay=1 / args.rate, counts=[1], tts_chunk=args.tts_chunk)
    log = Path(tempfile.mkdtemp(prefix="talkterm-soak-")) / "server.log"
    grace = {"TALKTERM_RESUME_GRACE": str(args.resume_grace)}
    server = await start_server(fakes.llm_url, fakes.speech_url, log, env=grace)
    try:
        await asyncio.sleep(2)
        ports = fakes.ports | {server.port: "client WebSocket"}
        baseline, base_kinds = sample(server.pid), fd_kinds(server.pid, ports)
        tally, rows = Tally(), []
        start = time.perf_counter()
        pids = [server.pid, fakes.pid, os.getpid()]
        watcher = asyncio.create_task(watch(pids, start, tally, rows, args.every))
        deadline = start + args.minutes * 60
        await asyncio.gather(
            *(session_loop(i, server.url, args, deadline, tally) for i in range(args.sessions))
        )
        loaded_until = time.perf_counter() - start
        cooled = await cool_down(server.pid, baseline, args, rows)
        watcher.cancel()
        end_kinds = fd_kinds(server.pid, ports)
        trimmed = await malloc_trim(server.pid)
        dump = await fakes.dump()
        text = report(args, baseline, rows, loaded_until, cooled, tally, dump, base_kinds,
                      end_kinds, server.log_problems())  # fmt: skip
        if trimmed is None:
            return text + "\n\n(gdb not installed: no malloc_trim check)"
        return text.replace(
            "| server peak RSS",
            f"| RSS after glibc `malloc_trim(0)` called in the server by gdb (diagnostic) | "
            f"{trimmed / 1024:.0f} MiB |\n| server peak RSS",
        )
    finally:
        await server.stop()
        await fakes.close()


async def cool_down(pid: int, baseline: Sample, args: argparse.Namespace, rows: list[Row]) -> float:
    """Wait for the sessions to outlive the resume grace; return how long it took."""
    start = time.perf_counter()
    await asyncio.sleep(args.resume_grace + 5)
    for _ in range(60):  # expiry may lag the grace period when the loop is busy
        if sample(pid).fds <= baseline.fds + 40:
            break
        await asyncio.sleep(1)
    await asyncio.sleep(args.every)  # one more row after the sessions are gone
    return time.perf_counter() - start


async def malloc_trim(pid: int) -> int | None:
    """Have glibc hand free heap pages back, then RSS in KiB: freed memory vs. a leak."""
    if shutil.which("gdb") is None:
        return None
    gdb = await asyncio.create_subprocess_exec(
        "gdb", "-p", str(pid), "-batch", "-ex", "call (int) malloc_trim(0)",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.wait_for(gdb.wait(), 60)
    await asyncio.sleep(1)
    return sample(pid).rss_kib


def report(args: argparse.Namespace, baseline: Sample, rows: list[Row], loaded_until: float,
           cooled: float, tally: Tally, dump: dict, base_kinds: Counter[str],
           end_kinds: Counter[str], problems: list[str]) -> str:  # fmt: skip
    """The soak's figures as markdown."""
    loaded = [r for r in rows if r.at_s <= loaded_until]
    mark = min(loaded, key=lambda r: abs(r.at_s - min(120, loaded_until / 2)))
    end, final = loaded[-1], rows[-1]
    growth = 100 * (end.proc.rss_kib - mark.proc.rss_kib) / mark.proc.rss_kib
    sent: dict[str, list[float]] = {}
    for tag, _ordinal, at in dump["log"]:
        sent.setdefault(tag, []).append(at)
    latency = [
        (got - put) * 1000
        for tag, times in tally.deltas.items()
        for put, got in zip(sent.get(tag, []), times, strict=False)
    ]
    mib = lambda kib: f"{kib / 1024:.0f}"  # noqa: E731
    lines = [
        f"## Soak: {args.sessions} sessions, {args.minutes:g} min, {args.turns} turns per session, "
        f"{args.rate:g} chunks/s, resume grace {args.resume_grace:g} s"
        + (", no permessage-deflate" if args.no_deflate else ""),
        "",
        "| figure | value |",
        "|---|---|",
        f"| turns completed / sessions opened | {tally.turns} / {tally.connections} |",
        f"| connection or session failures | {len(tally.failures)} |",
        f"| `error` events | {sum(tally.errors.values())} |",
        f"| responses not `completed` | {tally.not_completed} |",
        f"| responses whose text differs from what the fake sent | {tally.mismatched} |",
        f"| server log lines at WARNING+ | {len(problems)} |",
        f"| text delta latency p50 / p99 / max (ms, n={len(latency)}) | "
        f"{statistics.median(latency):.1f} / {pct(latency, 0.99):.1f} / {max(latency):.1f} |",
        f"| response.create → first audio p50 / p99 (ms) | "
        f"{statistics.median(tally.ttfa_ms):.0f} / {pct(tally.ttfa_ms, 0.99):.0f} |",
        f"| server RSS: baseline / at {mark.at_s:.0f} s / end of load ({end.at_s:.0f} s) / "
        f"after cool-down | {mib(baseline.rss_kib)} / {mib(mark.proc.rss_kib)} / "
        f"{mib(end.proc.rss_kib)} / {mib(final.proc.rss_kib)} MiB |",
        f"| RSS growth from {mark.at_s:.0f} s to end of load | {growth:+.1f} % (target < 5 %) |",
        f"| server peak RSS (VmHWM) | {mib(final.proc.hwm_kib)} MiB |",
        f"| server fds: baseline / peak / after cool-down | {baseline.fds} / "
        f"{max(r.proc.fds for r in rows)} / {final.proc.fds} |",
        f"| server threads: baseline / peak / after cool-down | {baseline.threads} / "
        f"{max(r.proc.threads for r in rows)} / {final.proc.threads} |",
        f"| fds by kind, baseline → after cool-down ({cooled:.0f} s after the last client "
        f"closed) | {_kinds(base_kinds, end_kinds)} |",
        f"| server CPU during load, mean of 10 s samples | "
        f"{statistics.mean(r.cpu for r in loaded):.0f} % of one core |",
        f"| other processes' CPU during load (shared 2-core machine), mean / max | "
        f"{statistics.mean(r.others for r in loaded):.0f} / {max(r.others for r in loaded):.0f} "
        f"% of one core |",
        f"| fake speech renders during the soak | {dump['renders']} (all before it) |",
    ]
    if tally.failures or tally.errors:
        lines += ["", f"Failures: {sorted(set(tally.failures))[:5]}; errors: {tally.errors}"]
    head = "| t (s) | RSS MiB | fds | threads | server CPU % | others' CPU % | live | turns |"
    lines += ["", head, "|---|---|---|---|---|---|---|---|"]
    lines += [
        f"| {r.at_s:.0f} | {mib(r.proc.rss_kib)} | {r.proc.fds} | {r.proc.threads} | "
        f"{r.cpu:.0f} | {r.others:.0f} | {r.live} | {r.turns} |"
        for r in rows
    ]
    return "\n".join(lines)


def _kinds(before: Counter[str], after: Counter[str]) -> str:
    names = sorted(set(before) | set(after) | {"client WebSocket"})
    return "; ".join(f"{n}: {before[n]} → {after[n]}" for n in names)


def main() -> None:
    """Parse flags, soak, print markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--quick", action="store_true", help="1 minute")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--turns", type=int, default=10, help="turns before a session reconnects")
    parser.add_argument("--rate", type=float, default=20, help="LLM chunks per second")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between turns, s")
    parser.add_argument("--tts-chunk", type=int, default=9600, help="fake speech chunk bytes")
    parser.add_argument("--resume-grace", type=float, default=60, help="TALKTERM_RESUME_GRACE")
    parser.add_argument("--every", type=float, default=10, help="sampling period, s")
    parser.add_argument("--timeout", type=float, default=60, help="per-read timeout, s")
    parser.add_argument("--no-deflate", action="store_true", help="as bench/load.py --no-deflate")
    args = parser.parse_args()
    if args.quick:
        args.minutes = 1
    print(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
