"""WebSocket vs HTTP streaming, side by side in one run; and the relay before/after the HTTP layer.

Reproduce (from the repository root, after `bash scripts/bootstrap.sh test --co -q`):

    .venv/bin/python bench/transports_bench.py              # everything, markdown on stdout
    .venv/bin/python bench/transports_bench.py --quick      # fewer repetitions
    .venv/bin/python bench/transports_bench.py --relay-base 082e9cf   # relay A/B vs that commit

The server runs as `python -m server` in its own process, against the fake LLM (tests/fakes)
and real espeak-ng; nginx (nginx-light) is started from tests/helpers/nginx.py: a plain
proxy_pass for HTTP, one with the Upgrade lines for WebSocket. Figures per transport:
- first text / first audio: request sent → first text delta / first audio byte at the client;
- set-up: a new connection per turn (HTTP) vs the open socket (WebSocket), as the
  difference between a fresh-connection turn and a reused-connection turn's first text;
- stop: WebSocket response.cancel sent / HTTP stream closed → the fake LLM saw its socket close;
- bytes on the wire per second of speech; server CPU (user+system) per spoken answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server_bench import pct, relay  # noqa: E402
from server import protocol as p  # noqa: E402
from tests.fakes.llm_upstream import FakeLLM, Reply  # noqa: E402
from tests.helpers.client import Client  # noqa: E402
from tests.helpers.nginx import nginx_proxy  # noqa: E402
from tests.helpers.server_process import clean_env, ready_line, spawn  # noqa: E402

ANSWER = ["Sure,", " here", " is", " the", " answer.", " It", " is", " short", " and", " clear."]
SPEECH = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"}}
ASK = {"model": "x", "messages": [{"role": "user", "content": "go"}], "stream": True} | SPEECH
PCM_PER_S = p.PCM_RATE * p.PCM_SAMPLE_WIDTH


@asynccontextmanager
async def server(fake: FakeLLM, tts: str, cwd: Path = ROOT) -> AsyncIterator[tuple[int, int]]:
    """(pid, port) of a server process started from ``cwd``."""
    proc = await spawn(
        "--port", "0", "--tts", tts, "--llm-base-url", fake.base_url, "--llm-model", "bench",
        env=clean_env(TALKTERM_LOG_LEVEL="WARNING", PYTHONPATH=str(cwd)), stderr=None, cwd=cwd,
    )
    try:
        url = (await ready_line(proc))["listening"]
        yield proc.pid, int(url.rsplit(":", 1)[1].split("/")[0])
    finally:
        proc.terminate()
        await proc.wait()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- WebSocket -----------------------------------------------------------------------


async def ws_turns(fake: FakeLLM, url: str, runs: int, binary: bool) -> dict[str, list[float]]:
    """Spoken answers over one WebSocket: first text, first audio, bytes per speech second."""
    out: dict[str, list[float]] = {"text": [], "audio": [], "bytes_per_s": []}
    client = await Client.open(url)
    if binary:
        binary_on = {"talkterm": {"binary_audio": True}}
        await client.send({"type": p.SESSION_UPDATE, "session": binary_on})
        await client.expect(p.SESSION_UPDATED)
    for _ in range(runs):
        fake.enqueue(Reply(chunks=ANSWER, delay=0.01))
        sent = time.perf_counter()
        await client.ask("go")
        first_text = first_audio = None
        wire = pcm = 0
        while True:
            raw = await asyncio.wait_for(client.ws.recv(), 30)
            wire += len(raw) + (4 if len(raw) > 125 else 2)  # frame header, server frames unmasked
            now = time.perf_counter()
            if isinstance(raw, bytes):
                pcm += len(p.decode_audio_frame(raw).audio)
                first_audio = first_audio or now
                continue
            event = json.loads(raw)
            if event["type"] == p.TRANSCRIPT_DELTA:
                first_text = first_text or now
            elif event["type"] == p.AUDIO_DELTA:
                first_audio = first_audio or now
                pcm += len(event["delta"]) * 3 // 4
            elif event["type"] == p.RESPONSE_DONE:
                break
        assert first_text and first_audio
        out["text"].append((first_text - sent) * 1000)
        out["audio"].append((first_audio - sent) * 1000)
        out["bytes_per_s"].append(wire / (pcm / PCM_PER_S))
    await client.close()
    return out


async def ws_stop(fake: FakeLLM, url: str, runs: int) -> list[float]:
    """response.cancel sent → upstream closed, ms."""
    out = []
    client = await Client.open(url)
    for _ in range(runs):
        fake.enqueue(Reply(chunks=["word "] * 2000, delay=0.01))
        await client.ask("go")
        await client.read_until(p.AUDIO_DELTA)
        count = len(fake.disconnected_at) + 1
        sent = time.perf_counter()
        await client.send({"type": p.RESPONSE_CANCEL})
        out.append(await _closed_after(fake, count, sent))
        await client.collect()
    await client.close()
    return out


# -- HTTP streaming ------------------------------------------------------------------


async def http_turns(fake: FakeLLM, base: str, runs: int, fresh: bool) -> dict[str, list[float]]:
    """Spoken answers over POST /v1/chat/completions; a new connection per turn if ``fresh``."""
    out: dict[str, list[float]] = {"text": [], "audio": [], "bytes_per_s": []}
    shared = httpx.AsyncClient(timeout=30)
    for _ in range(runs):
        fake.enqueue(Reply(chunks=ANSWER, delay=0.01))
        http = httpx.AsyncClient(timeout=30) if fresh else shared
        sent = time.perf_counter()
        first_text = first_audio = None
        wire = pcm = 0
        async with http.stream("POST", f"{base}/v1/chat/completions", json=ASK) as response:
            async for line in response.aiter_lines():
                wire += len(line) + 1
                if not line.startswith("data: {"):
                    continue
                now = time.perf_counter()
                choices = json.loads(line[6:])["choices"]
                audio = choices[0]["delta"].get("audio", {}) if choices else {}
                if "transcript" in audio:
                    first_text = first_text or now
                if "data" in audio:
                    first_audio = first_audio or now
                    pcm += len(audio["data"]) * 3 // 4
        if fresh:
            await http.aclose()
        assert first_text and first_audio
        out["text"].append((first_text - sent) * 1000)
        out["audio"].append((first_audio - sent) * 1000)
        out["bytes_per_s"].append(wire / (pcm / PCM_PER_S))
    await shared.aclose()
    return out


async def http_stop(fake: FakeLLM, base: str, runs: int) -> list[float]:
    """Client closes the stream → upstream closed, ms."""
    out = []
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(runs):
            fake.enqueue(Reply(chunks=["word "] * 2000, delay=0.01))
            count = len(fake.disconnected_at) + 1
            async with http.stream("POST", f"{base}/v1/chat/completions", json=ASK) as response:
                async for line in response.aiter_lines():
                    if '"data"' in line:
                        break
                sent = time.perf_counter()
            out.append(await _closed_after(fake, count, sent))
    return out


async def _closed_after(fake: FakeLLM, count: int, sent: float) -> float:
    """ms from ``sent`` to the upstream's ``count``-th hang-up; inf if none within 15 s
    (on a saturated machine a few did not come within 5 s; they count in the p99)."""
    try:
        return (await fake.wait_disconnect(timeout=15, count=count) - sent) * 1000
    except TimeoutError:
        return float("inf")


# -- the run -------------------------------------------------------------------------


def extract(rev: str, into: str) -> None:
    """The tree of ``rev`` in the directory ``into``."""
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", into], input=archive.stdout, check=True)


def cell(values: list[float]) -> str:
    """median (p99) of a figure."""
    return f"{statistics.median(values):.1f} ({pct(values, 0.99):.1f})"


async def compare(runs: int) -> list[str]:
    """The side-by-side table, on loopback and through nginx."""
    lines = [
        "| path | transport | first text ms | first audio ms | stop → upstream closed ms "
        "| wire bytes per s of speech | server CPU ms per answer |",
        "|---|---|---|---|---|---|---|",
    ]
    async with FakeLLM() as fake, server(fake, "espeak") as (pid, port):
        ws_url = f"ws://127.0.0.1:{port}/v1/realtime"
        http_url = f"http://127.0.0.1:{port}"
        async with nginx_proxy(port, "plain") as plain, nginx_proxy(port, "upgrade") as upg:
            routes = [("loopback", ws_url, http_url),
                      ("nginx", upg.replace("http", "ws", 1) + "/v1/realtime", plain)]
            for where, ws, http in routes:
                for name, turns in (
                    ("WebSocket, base64 JSON", lambda u=ws: ws_turns(fake, u, runs, False)),
                    ("WebSocket, binary frames", lambda u=ws: ws_turns(fake, u, runs, True)),
                    ("HTTP SSE, new connection per turn",
                     lambda u=http: http_turns(fake, u, runs, True)),
                    ("HTTP SSE, kept-alive connection",
                     lambda u=http: http_turns(fake, u, runs, False)),
                ):
                    print(f"… {where}: {name}", file=sys.stderr, flush=True)
                    before = cpu_s(pid)
                    got = await turns()
                    cpu = (cpu_s(pid) - before) / runs * 1000
                    stop = (await ws_stop(fake, ws, runs) if name.startswith("WebSocket, b")
                            else await http_stop(fake, http, runs) if "new" in name else None)
                    wire = statistics.median(got["bytes_per_s"])
                    lines.append(
                        f"| {where} | {name} | {cell(got['text'])} | {cell(got['audio'])} | "
                        f"{cell(stop) if stop else '—'} | {wire:,.0f} | {cpu:.1f} |"
                    )
    return lines


async def relay_ab(base_rev: str, rounds: int) -> list[str]:
    """Relay per text delta at 200 sessions: ``base_rev``'s server vs this tree's, interleaved."""
    lines = ["| server | round | n | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="talkterm-base-") as tmp:
        extract(base_rev, tmp)
        trees = {f"before ({base_rev})": Path(tmp), "after (this tree)": ROOT}
        async with FakeLLM() as fake:
            for n in range(rounds):
                for label, cwd in trees.items():
                    async with server(fake, "none", cwd) as (_, port):
                        got = await relay(fake, f"ws://127.0.0.1:{port}/v1/realtime", 200, 100,
                                          skip=25)
                    lines.append(f"| {label} | {n + 1} | {len(got)} | "
                                 f"{statistics.median(got):.2f} | {pct(got, 0.99):.2f} |")
    return lines


async def main(args: argparse.Namespace) -> None:
    runs = 5 if args.quick else 20
    if args.relay_base:
        print("\n".join(await relay_ab(args.relay_base, 1 if args.quick else 3)))
        print()
    if not args.relay_only:
        print("\n".join(await compare(runs)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--relay-base", help="git revision whose server is the 'before'")
    parser.add_argument("--relay-only", action="store_true")
    asyncio.run(main(parser.parse_args()))
