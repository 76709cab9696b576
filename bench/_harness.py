"""Shared pieces of the load and soak benches (bench/load.py, bench/soak.py).

- ``Fakes``: the fake LLM and the fake speech server in a process of their own, so the load
  clients, the fakes and the server each get their own CPU figure. Run directly
  (``python bench/_harness.py fakes ...``) this module *is* that process.
- ``start_server``: ``python -m server`` with ``--tts openai`` pointed at the fake speech server
  and a raised fd limit; its log goes to a file (an unread pipe would stall it).
- ``sample`` and friends: CPU, RSS, fds and threads of a process, from /proc.

The fake speech server serves PCM rendered once per sentence by espeak-ng + ffmpeg (tests'
``SpeechUpstream`` already caches by text; ``CachedSpeech`` renders every sentence the scripted
answers can produce *before* the run and merges concurrent first requests), so during a run
speech costs the fakes a dict lookup and the socket writes.

Each chat request names its reply in the user message, ``TAG|FIRST|COUNT``: the fake answers
``COUNT`` answers of ``ANSWERS`` from ``FIRST`` on and logs ``(TAG, ordinal, perf_counter)`` per
content chunk written. The server relays one text delta per upstream chunk, so the k-th delta a
client receives is matched to the k-th chunk written (and the joined text is checked).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.server_bench import pct  # noqa: E402
from server.speech.sentences import SentenceSplitter  # noqa: E402
from server.speech.speakable import speakable  # noqa: E402
from tests.fakes.llm_upstream import FakeLLM, Reply, _Stream, chunk_text  # noqa: E402
from tests.fakes.speech_upstream import SpeechUpstream  # noqa: E402

__all__ = ["ANSWERS", "chunk_text", "pct"]

ANSWERS = (
    "Sure, here is the short version. Paris is the capital of France and its largest city. "
    "It sits on the Seine, in the north of the country.",
    "Good question, and the answer is simple. Water boils at one hundred degrees Celsius at "
    "sea level. Higher up the air pressure is lower, so it boils a little sooner.",
    "Let me think about that for a moment. A week has seven days and a day has twenty four "
    "hours. So a week is one hundred and sixty eight hours long.",
    "In short, yes. The moon always shows us the same face, because it turns once on its axis "
    "for every trip around the earth. Astronomers call this tidal locking.",
    "Here is a quick answer. Bread rises because yeast eats sugar and gives off carbon dioxide. "
    "The gas is caught in the dough, which swells as it proves.",
    "That depends on the season. In summer the days are long and the nights are short. In "
    "winter it is the other way round, at least far from the equator.",
    "Happy to help with that. A good cup of tea needs freshly boiled water and a few minutes "
    "of patience. Milk goes in afterwards, if at all.",
    "Well, the quick answer is no. Glass is a solid, not a very slow liquid. Old windows are "
    "thicker at the bottom because of the way they were made.",
)
PCM_BYTES_PER_S = 48_000
BACKLOG = 4096


def answer_text(first: int, count: int) -> str:
    """The reply the fake LLM streams for ``first``/``count``."""
    return " ".join(ANSWERS[(first + k) % len(ANSWERS)] for k in range(count))


def prompt(tag: str, first: int, count: int) -> str:
    """The user message that makes the fake stream ``answer_text(first, count)`` tagged ``tag``."""
    return f"{tag}|{first}|{count}"


def spoken_texts(counts: list[int]) -> set[str]:
    """Every text the server will send to the speech endpoint for these replies."""
    texts = set()
    for count in counts:
        for first in range(len(ANSWERS)):
            splitter = SentenceSplitter()
            segments = splitter.feed(answer_text(first, count)) + splitter.flush()
            texts |= {t for s in segments if (t := speakable(s.text))}
    return texts


# -- process figures from /proc ------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Sample:
    """One look at a process."""

    at: float
    cpu_s: float
    rss_kib: int
    hwm_kib: int
    fds: int
    threads: int


def sample(pid: int) -> Sample:
    """CPU seconds (user+system), RSS, peak RSS, open fds and threads of ``pid`` now."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return Sample(
        at=time.perf_counter(),
        cpu_s=(int(stat[11]) + int(stat[12])) / _TICK,
        rss_kib=int(status["VmRSS"].split()[0]),
        hwm_kib=int(status["VmHWM"].split()[0]),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=int(status["Threads"]),
    )


def machine_sample() -> Sample:
    """CPU seconds spent by every process on the machine (all cores), as a Sample."""
    jiffies = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(jiffies[:8]) - jiffies[3] - jiffies[4]  # all but idle and iowait
    return Sample(time.perf_counter(), busy / _TICK, 0, 0, 0, 0)


def cpu_percent(before: Sample, after: Sample) -> float:
    """CPU use between two samples, in % of one core."""
    return 100 * (after.cpu_s - before.cpu_s) / max(after.at - before.at, 1e-9)


_TCP_STATES = {"02": "SYN_SENT", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
               "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0B": "CLOSING"}  # fmt: skip


def fd_kinds(pid: int, ports: dict[int, str]) -> Counter[str]:
    """Open fds of ``pid`` by kind; TCP sockets named by the port in ``ports`` they talk to."""
    inodes: dict[str, str] = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                cols = line.split()
                local, remote = (int(a.rsplit(":", 1)[1], 16) for a in cols[1:3])
                name = ports.get(remote) or ports.get(local) or "other TCP"
                if cols[3] not in ("01", "0A"):  # not ESTABLISHED: name the state
                    name += f" ({_TCP_STATES.get(cols[3], cols[3])})"
                inodes[cols[9]] = "listening socket" if cols[3] == "0A" else name
    kinds: Counter[str] = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                kinds[inodes.get(target[8:-1], "other socket")] += 1
            else:
                kinds[target.split(":")[0] if ":" in target else "file or pipe"] += 1
    return kinds


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to the hard limit; return it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# -- the companion server ------------------------------------------------------------------------


@dataclass
class ServerProc:
    """A running ``python -m server`` (with ``--workers N``: the parent of N workers)."""

    proc: asyncio.subprocess.Process
    url: str
    log: Path
    ready: dict[str, Any]

    def processes(self) -> dict[str, int]:
        """Name → pid of every process that serves: "server", or the workers and HAProxy."""
        if "workers" not in self.ready:
            return {"server": self.pid}
        workers = {w["id"]: w["pid"] for w in self.ready["workers"]}
        return workers | {"haproxy": self.ready["haproxy"]["pid"], "supervisor": self.pid}

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid

    @property
    def port(self) -> int:
        """The server's TCP port."""
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    async def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    def log_problems(self) -> list[str]:
        """Log lines at WARNING or above, and tracebacks."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [ln for ln in lines if " WARNING " in ln or " ERROR " in ln or "Traceback" in ln]


# Runs the server with httpx's default connection limit (100 per client) replaced: the bench's
# what-if for the recommended fix, without touching server code.
_POOL_LAUNCHER = (
    "import sys, httpx; "
    "httpx.AsyncClient.__init__.__kwdefaults__['limits'] = httpx.Limits("
    "max_connections=None, max_keepalive_connections=int(sys.argv.pop(1))); "
    "from server.cli import main; sys.exit(main(sys.argv[1:]))"
)


async def start_server(
    llm_url: str, speech_url: str, log: Path, *, env: dict[str, str] | None = None,
    unlimited_pool: int | None = None, workers: int = 1,
) -> ServerProc:  # fmt: skip
    """Start the server on port 0 against the fakes; ``unlimited_pool`` lifts httpx's limit."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TALKTERM_")}
    clean.pop("OPENAI_API_KEY", None)
    # No token: the bench's clients send none (a server started by hand makes one up).
    clean |= {"TALKTERM_PROBE_LOCAL": "false", "TALKTERM_LOG_LEVEL": "INFO", "TALKTERM_TOKEN": ""}
    clean |= env or {}
    flags = ["--port", "0", "--llm-base-url", llm_url, "--llm-model", "bench"]
    flags += ["--tts", "openai", "--tts-base-url", speech_url]
    if workers > 1:
        flags += ["--workers", str(workers)]
    entry = ["-m", "server"]
    if unlimited_pool is not None:
        entry = ["-c", _POOL_LAUNCHER, str(unlimited_pool)]
    with log.open("w") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *entry, *flags, stdout=asyncio.subprocess.PIPE, stderr=sink,
            env=clean, cwd=ROOT, preexec_fn=raise_fd_limit,
        )  # fmt: skip
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    if not line:
        raise RuntimeError(f"server did not start; see {log}")
    ready = json.loads(line)
    return ServerProc(proc, ready["listening"], log, ready)


# -- the fakes, as seen from the bench -----------------------------------------------------------


@dataclass
class Fakes:
    """The fakes' process: URLs, pid, and a command line over its stdin."""

    proc: asyncio.subprocess.Process
    llm_url: str
    speech_url: str
    rendered: int

    @classmethod
    async def start(cls, *, delay: float, counts: list[int], tts_chunk: int) -> Fakes:
        """Start the fakes and wait until every sentence is rendered."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "fakes", "--delay", str(delay),
            "--counts", ",".join(map(str, counts)), "--tts-chunk", str(tts_chunk),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            preexec_fn=raise_fd_limit, limit=1 << 30,
        )  # fmt: skip
        assert proc.stdout is not None
        ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 120))
        return cls(proc, ready["llm"], ready["speech"], ready["rendered"])

    @property
    def pid(self) -> int:
        """The fakes' process id."""
        return self.proc.pid

    @property
    def ports(self) -> dict[int, str]:
        """Port → name, for ``fd_kinds``."""
        port = lambda url: int(url.rsplit(":", 1)[1].split("/")[0])  # noqa: E731
        return {port(self.llm_url): "LLM upstream", port(self.speech_url): "speech upstream"}

    async def dump(self) -> dict[str, Any]:
        """The chunk log since the last dump (then cleared) and the fakes' counters."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"dump\n")
        await self.proc.stdin.drain()
        return json.loads(await self.proc.stdout.readline())

    async def close(self) -> None:
        """Stop the fakes' process."""
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


# -- the fakes, inside their process -------------------------------------------------------------


class _TaggedStream(_Stream):
    """A scripted reply that logs (tag, ordinal, time written) per content chunk."""

    def __init__(self, fake: ScriptedLLM, conn: Any, request: dict[str, Any], reply: Reply,
                 tag: str) -> None:  # fmt: skip
        super().__init__(fake, conn, request, reply)
        self._log = fake.log
        self._tag = tag
        self._ordinal = 0

    async def _content(self, piece: str) -> bool:
        if not await super()._content(piece):
            return False
        self._log.append((self._tag, self._ordinal, time.perf_counter()))
        self._ordinal += 1
        return True


class ScriptedLLM(FakeLLM):
    """FakeLLM whose reply is named by the last user message (``TAG|FIRST|COUNT``)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.log: list[tuple[str, int, float]] = []
        self.answered = 0

    async def start(self) -> None:
        """Listen with a deep backlog: 1,000 sessions connect at once (asyncio's default is 100)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=BACKLOG)
        self.root_url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        self.base_url = f"{self.root_url}/v1"

    async def _reply(self, conn: Any, request: dict[str, Any], reply: Reply) -> bool:
        messages = request.get("messages") or [{}]
        tag, first, count = str(messages[-1].get("content", "")).split("|")
        scripted = Reply(chunks=chunk_text(answer_text(int(first), int(count))), delay=self.delay)
        self.answered += 1
        watcher = asyncio.create_task(self._watch(conn))
        try:
            keep = await _TaggedStream(self, conn, request, scripted, tag).run()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        return keep and not conn.closed.is_set()


class CachedSpeech(SpeechUpstream):
    """SpeechUpstream that renders each text once even when many ask at the same moment."""

    def __init__(self, chunk_size: int) -> None:
        super().__init__(chunk_size=chunk_size)
        self.renders = 0
        self.served = 0
        self._pending: dict[tuple[str, str], asyncio.Future[bytes]] = {}

    async def __aenter__(self) -> CachedSpeech:
        # A deep backlog, as for ScriptedLLM.start.
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, backlog=BACKLOG)
        return self

    async def render(self, text: str, fmt: str) -> bytes:
        """The audio for ``text``, from memory after the first time."""
        self.served += 1
        key = (text, fmt)
        if key not in self._pending:
            self.renders += 1
            self._pending[key] = asyncio.ensure_future(super().render(text, fmt))
        return await asyncio.shield(self._pending[key])


async def _forget_requests(llm: ScriptedLLM, speech: CachedSpeech) -> None:
    """The fakes record every request; a soak must not grow them without bound."""
    while True:
        await asyncio.sleep(5)
        llm.requests.clear()
        llm.sent_log.clear()
        llm.chunk_sent_at.clear()
        llm.disconnected_at.clear()
        speech.requests.clear()


async def _fakes_main(delay: float, counts: list[int], tts_chunk: int) -> None:
    async with ScriptedLLM(delay) as llm, CachedSpeech(tts_chunk) as speech:
        texts = sorted(spoken_texts(counts))
        await asyncio.gather(*(speech.render(t, "pcm") for t in texts))
        speech.served = 0
        ready = {"llm": llm.base_url, "speech": speech.base_url, "rendered": speech.renders}
        print(json.dumps(ready), flush=True)
        forget = asyncio.create_task(_forget_requests(llm, speech))
        while (await asyncio.to_thread(sys.stdin.readline)).strip() == "dump":
            log, llm.log[:] = list(llm.log), []
            counters = {"renders": speech.renders, "speech_served": speech.served}
            print(json.dumps({"log": log, "llm_answered": llm.answered, **counters}), flush=True)
        forget.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The benches' fake LLM and speech servers.")
    parser.add_argument("role", choices=["fakes"])
    parser.add_argument("--delay", type=float, required=True)
    parser.add_argument("--counts", required=True)
    parser.add_argument("--tts-chunk", type=int, default=9600)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    asyncio.run(_fakes_main(args.delay, counts, args.tts_chunk))
