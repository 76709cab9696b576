"""The local model (SmolLM2-135M) with Piper on this machine: in process vs a child server.

Reproduce (from the repository root, after `bash scripts/bootstrap.sh test --co -q`):

    uptime                                          # the load: the machine is shared
    .venv/bin/python bench/local_llm_bench.py       # both ways, markdown on stdout
    .venv/bin/python bench/local_llm_bench.py --only inproc --runs 5

Ways:
- ``inproc``: the companion server with nothing configured, so ``server.llm.local``
  runs the model in its own process (what talkterm does);
- ``child``: llama-cpp-python's OpenAI-compatible server as a child process on a loopback
  port (same model, context and threads), the companion server pointed at it.

``--stop``: in process only, the stream closed after five tokens → the model's thread
free again (ten per run).

Figures per way: server start-up (spawn → ready, the child's too), ask → first text
(first token), tokens per second (text only), ask → first audio with Piper (the app's
Enter → first audio less the app's own few ms), Piper gaps (audio arriving later than it
is due to play, beyond 50 ms of slack), RSS of the process(es) after start and after.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server_bench import pct, rss_kib  # noqa: E402
from server import protocol as p  # noqa: E402
from server.config import Settings  # noqa: E402
from server.llm.local import SYSTEM_PROMPT  # noqa: E402
from server.llm.local_model import (  # noqa: E402
    CONTEXT_CAP,
    GENERATION_THREADS,
    TEMPERATURE,
    TOP_P,
    model_path,
)
from tests.helpers.client import Client  # noqa: E402
from tests.helpers.server_process import clean_env, ready_line, spawn  # noqa: E402

QUESTIONS = [
    "How long should I boil an egg?",
    "What is the capital of France?",
    "Why is the sky blue?",
    "Give me a tip for sleeping better.",
    "What is a good name for a cat?",
    "How far away is the moon?",
    "What should I cook tonight?",
    "Tell me a fun fact about octopuses.",
]
BYTES_PER_S = p.PCM_RATE * 2
GAP_SLACK_S = 0.05


@dataclass
class Figures:
    """What one way measured."""

    startup_s: float = 0.0
    first_text_ms: list[float] = field(default_factory=list)
    tokens_per_s: list[float] = field(default_factory=list)
    first_audio_ms: list[float] = field(default_factory=list)
    gapless: int = 0
    answers: int = 0
    worst_late_ms: float = 0.0
    rss_start_mib: float = 0.0
    rss_end_mib: float = 0.0


async def text_run(url: str, question: str, figures: Figures) -> None:
    """One text-only answer: first token and tokens per second."""
    client = await Client.open(url)
    await client.send({"type": p.SESSION_UPDATE, "session": {"output_modalities": ["text"]}})
    await client.expect(p.SESSION_UPDATED)
    asked = time.perf_counter()
    await client.ask(question)
    first = last = None
    tokens = 0  # both servers send one token per delta (llama-cpp-python reports no usage)
    while True:
        event = await client.recv(120)
        assert isinstance(event, dict)
        if event["type"] == p.TEXT_DELTA:
            last = time.perf_counter()
            first = first or last
            tokens += 1
        elif event["type"] == p.RESPONSE_DONE:
            break
    await client.close()
    if first is not None and last is not None and tokens > 1 and last > first:
        figures.first_text_ms.append((first - asked) * 1000)
        figures.tokens_per_s.append((tokens - 1) / (last - first))


async def spoken_run(url: str, question: str, figures: Figures) -> None:
    """One spoken answer: ask → first audio, and whether every chunk came before it was due."""
    client = await Client.open(url)
    await client.ask(question)
    asked = time.perf_counter()
    first: float | None = None
    audio, late = 0, 0.0
    while True:
        event = await client.recv(120)
        now = time.perf_counter()
        header = event.header if isinstance(event, p.AudioFrame) else event
        if header["type"] == p.RESPONSE_DONE:
            break
        if header["type"] == p.AUDIO_DELTA:
            size = (
                len(event.audio)
                if isinstance(event, p.AudioFrame)
                else len(header["delta"]) * 3 // 4
            )
            first = first or now
            late = max(late, now - first - audio / BYTES_PER_S)
            audio += size
    await client.close()
    if first is None:
        return
    figures.answers += 1
    figures.first_audio_ms.append((first - asked) * 1000)
    figures.gapless += late <= GAP_SLACK_S
    figures.worst_late_ms = max(figures.worst_late_ms, late * 1000)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# llama_cpp.server with our sampling as its request defaults (the companion server's
# client sends none), so both ways give answers of the same kind and length.
CHILD_LAUNCHER = f"""
import runpy, sys
from llama_cpp.server.types import CreateChatCompletionRequest as Request
for name, value in {{"temperature": {TEMPERATURE}, "top_p": {TOP_P}}}.items():
    Request.model_fields[name].default = value
Request.model_rebuild(force=True)
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__")
"""


async def start_child() -> tuple[asyncio.subprocess.Process, str]:
    """llama-cpp-python's server with the same model, context and threads as in process."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD_LAUNCHER, "--model", str(model_path()),
        "--n_ctx", str(CONTEXT_CAP), "--n_threads", str(GENERATION_THREADS),
        "--n_threads_batch", str(GENERATION_THREADS), "--flash_attn", "true",
        "--host", "127.0.0.1", "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /v1/models HTTP/1.0\r\n\r\n")
            status = await reader.readline()
            writer.close()
            if b" 200 " in status:
                return proc, f"{base}/v1"
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("llama_cpp.server did not start")


@dataclass
class Way:
    """One way of serving the model, started: its server, the child if any, its figures."""

    name: str
    url: str
    procs: list[asyncio.subprocess.Process]
    figures: Figures

    def rss_mib(self) -> float:
        return sum(rss_kib(proc.pid) for proc in self.procs) / 1024


async def start_way(name: str) -> Way:
    """Start the companion server (and for ``child`` the model's server); time it."""
    figures = Figures()
    began = time.perf_counter()
    procs = []
    args = ["--port", "0", "--tts", "piper"]
    env = clean_env(TALKTERM_LOG_LEVEL="WARNING", TALKTERM_TTS="piper")
    if name == "child":
        child, base = await start_child()
        procs.append(child)
        args += ["--llm-base-url", base, "--llm-model", "smollm2"]
        # The system prompt the local engine puts before the server's own.
        env["TALKTERM_INSTRUCTIONS"] = f"{SYSTEM_PROMPT}\n{Settings().instructions}"
    else:
        env["TALKTERM_LOCAL_LLM"] = "true"
    proc = await spawn(*args, env=env, stderr=None, cwd=ROOT)
    procs.insert(0, proc)
    url = (await ready_line(proc, timeout=60))["listening"]
    figures.startup_s = time.perf_counter() - began
    way = Way(name, url, procs, figures)
    figures.rss_start_mib = way.rss_mib()
    return way


async def measure(names: list[str], runs: int) -> dict[str, Figures]:
    """Start every way, then ask each question of each in turn (the order alternates), so
    the shared machine's changing load falls on all ways alike."""
    ways = [await start_way(name) for name in names]
    try:
        for index, question in enumerate(QUESTIONS * runs):
            for way in ways[:: 1 if index % 2 == 0 else -1]:
                await text_run(way.url, question, way.figures)
                await spoken_run(way.url, question, way.figures)
        for way in ways:
            way.figures.rss_end_mib = way.rss_mib()
    finally:
        for way in ways:
            for proc in way.procs:
                proc.terminate()
                await proc.wait()
    return {way.name: way.figures for way in ways}


def table(results: dict[str, Figures]) -> str:
    def cell(values: list[float], unit: str = "") -> str:
        if not values:
            return "–"
        return f"{statistics.median(values):.0f} / {pct(values, 0.9):.0f}{unit}"

    lines = [
        "| way | start-up s | first token ms p50 / p90 | tokens/s p50 / p10 "
        "| ask → first audio ms p50 / p90 | gap-free answers | worst lateness ms "
        "| RSS MiB start → end |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for way, f in results.items():
        tps = sorted(f.tokens_per_s)
        tps_cell = f"{statistics.median(tps):.0f} / {tps[len(tps) // 10]:.0f}" if tps else "–"
        lines.append(
            f"| {way} | {f.startup_s:.2f} | {cell(f.first_text_ms)} | {tps_cell} "
            f"| {cell(f.first_audio_ms)} | {f.gapless} of {f.answers} | {f.worst_late_ms:.0f} "
            f"| {f.rss_start_mib:.0f} → {f.rss_end_mib:.0f} |"
        )
    return "\n".join(lines)


async def stop_latency(runs: int) -> list[float]:
    """In process: the stream closed after a few tokens → the model's thread free, in ms.

    The thread is free when a no-op queued behind the generation runs (one worker, FIFO).
    """
    from server.llm import TextDelta
    from server.llm.local import LocalLLM

    llm = await LocalLLM.load()
    loop = asyncio.get_running_loop()
    out = []
    ask = [{"role": "user", "content": "Tell me a very long story about a dragon."}]
    for _ in range(runs):
        stream = llm.stream(ask)
        seen = 0
        async for event in stream:
            seen += isinstance(event, TextDelta)
            if seen == 5:
                break
        closed = time.perf_counter()
        await stream.aclose()
        await loop.run_in_executor(llm._executor, lambda: None)
        out.append((time.perf_counter() - closed) * 1000)
    await llm.aclose()
    return out


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def main(ways: list[str], runs: int, stop_only: bool) -> None:
    print(f"load average before: {load_average()}")
    if stop_only:
        stops = await stop_latency(10 * runs)
        print(
            f"Stop → the model's thread free: p50 {statistics.median(stops):.1f} ms, "
            f"max {max(stops):.1f} ms (n = {len(stops)}); load {load_average()}"
        )
        return
    results = await measure(ways, runs)
    print(f"load average after: {load_average()}\n")
    print(table(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["inproc", "child"])
    parser.add_argument("--runs", type=int, default=2, help="rounds of the eight questions")
    parser.add_argument("--stop", action="store_true", help="only Stop's latency, in process")
    options = parser.parse_args()
    ways = [options.only] if options.only else ["inproc", "child"]
    asyncio.run(main(ways, options.runs, options.stop))
