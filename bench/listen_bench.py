"""Voice input (issue 18), measured on the real recognizer: latency, barge-in, words, cost.

Reproduce (from the repository root):

    .venv/bin/python bench/listen_bench.py           # all figures, markdown on stdout
    .venv/bin/python bench/listen_bench.py --quick   # fewer repetitions
    .venv/bin/python bench/listen_bench.py --only words --runs 10   # the word error rate alone

Speech is Piper's (the server's own voice), leading and trailing silence trimmed so "end of
speech" is the last audible sample. The server runs in this process (faster-whisper tiny.en,
Silero, Piper answering), the LLM is the instant fake upstream, the client a raw WebSocket.

Figures:
- push-to-talk: commit → transcript, and commit → first audio of the answer, for utterances
  of ≤ 5 s and of 5-10 s;
- server VAD, paced in real time: end of speech → transcript and → first audio, with the
  early decode (as the silence starts) and without it (wait for the commit, then decode);
- barge-in: speech onset (first speech sent) → the answer's response.done (cancelled);
- word error rate on clean sentences and with white noise at 10 dB SNR (contractions written
  out as Whisper's English normaliser does; clean also without that);
- Silero on a live stream: CPU share of one core; server RSS and time to the ready line,
  with and without the recognizer (separate processes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import protocol as p  # noqa: E402
from server.app import Server  # noqa: E402
from server.listen.vad import VoiceActivity  # noqa: E402
from server.session.input_audio import _To16k  # noqa: E402
from server.session.turns import Turns, heard_words, to_listen_rate  # noqa: E402
from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text  # noqa: E402
from tests.helpers.client import Client  # noqa: E402
from tests.helpers.server import make_settings  # noqa: E402
from tests.helpers.server_process import clean_env, ready_line, spawn  # noqa: E402
from tests.helpers.voice import Microphone, hiss, noisy, pieces, spoken, wer  # noqa: E402

SHORT = [
    "What is the capital city of France?",
    "The weather is lovely today.",
    "Please tell me a story about the sea.",
    "Stop, what time is it in London?",
    "How many days are there in a week?",
    "Can you recommend a good book to read?",
    "Turn on the lights in the kitchen please.",
    "What should I cook for dinner tonight?",
]
LONG = [
    SHORT[0] + " " + SHORT[4] + " " + SHORT[1],
    SHORT[2] + " " + SHORT[5] + " " + SHORT[6],
    SHORT[3] + " " + SHORT[7] + " " + SHORT[0],
]
ANSWER = "Sure. Here is a short answer for you."
LONG_ANSWER = "Once upon a time a small boat sailed out at dawn. " * 40


def trimmed(pcm: bytes, floor: int = 300) -> bytes:
    """``pcm`` without the quiet before the first and after the last audible sample."""
    x = np.frombuffer(pcm, np.int16)
    loud = np.flatnonzero(np.abs(x) > floor)
    return x[loud[0] : loud[-1] + 1].tobytes() if loud.size else pcm


def script(fake: FakeLLM, *replies: Reply) -> None:
    """Exactly these replies next (a stray turn of an earlier session must not shift them)."""
    fake._replies.clear()
    fake.enqueue(*replies)


def stats(values: list[float]) -> str:
    """p50 / p90 / max in ms."""
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.median(values):.0f} | {p90:.0f} | {max(values):.0f}"


async def open_client(server: Server, session: dict[str, Any]) -> Client:
    client = await Client.open(server.ws_url)
    await client.send({"type": p.SESSION_UPDATE, "session": {"type": "realtime", **session}})
    await client.expect(p.SESSION_UPDATED)
    return client


async def push_to_talk(server: Server, fake: FakeLLM, pcm: bytes) -> tuple[float, float]:
    """(commit → transcript, commit → first audio) in ms for one turn."""
    script(fake, Reply(chunks=[ANSWER]))
    client = await open_client(server, {"audio": {"input": {"turn_detection": None}}})
    for piece in pieces(pcm, 100):
        await client.send({"type": p.INPUT_APPEND, "audio": piece})
    committed = time.perf_counter()
    await client.send({"type": p.INPUT_COMMIT})
    await client.send({"type": p.RESPONSE_CREATE})
    heard = first_audio = None
    while first_audio is None:
        event = await client.recv(30)
        assert isinstance(event, dict)
        if event["type"] == p.HEARD_COMPLETED:
            heard = time.perf_counter()
        elif event["type"] in (p.HEARD_FAILED, p.ERROR):
            raise RuntimeError(event)
        elif event["type"] == p.AUDIO_DELTA:
            first_audio = time.perf_counter()
    await client.collect()
    await client.close()
    assert heard is not None
    return (heard - committed) * 1000, (first_audio - committed) * 1000


async def vad_turn(server: Server, fake: FakeLLM, pcm: bytes) -> tuple[float, float]:
    """(end of speech → transcript, → first audio) in ms, the microphone in real time."""
    script(fake, Reply(chunks=[ANSWER]))
    client = await open_client(server, {})
    mic = Microphone(
        lambda audio: client.send({"type": p.INPUT_APPEND, "audio": audio}), floor=hiss(0.04)
    )
    mic.start()
    mic.say(pcm)
    heard = first_audio = None
    try:
        while first_audio is None:
            event = await client.recv(30)
            assert isinstance(event, dict)
            if event["type"] == p.HEARD_COMPLETED:
                heard = time.perf_counter()
            elif event["type"] == p.HEARD_FAILED:
                raise RuntimeError(event)
            elif event["type"] == p.AUDIO_DELTA:
                first_audio = time.perf_counter()
    finally:
        await mic.stop()
    await client.collect()
    await client.close()
    assert heard is not None
    return (heard - mic.ended[0]) * 1000, (first_audio - mic.ended[0]) * 1000


async def barge_in(
    server: Server, fake: FakeLLM, question: bytes, interruption: bytes
) -> float | None:
    """Speech onset over a spoken answer → its response.done (cancelled), in ms."""
    script(fake, Reply(chunks=chunk_text(LONG_ANSWER), delay=0.03), Reply(chunks=[ANSWER]))
    client = await open_client(server, {})
    mic = Microphone(lambda audio: client.send({"type": p.INPUT_APPEND, "audio": audio}))
    mic.start()
    mic.say(question)
    audio = 0
    try:
        while True:
            event = await client.recv(30)
            assert isinstance(event, dict)
            if event["type"] == p.AUDIO_DELTA:
                audio += 1
                if audio == 20 and mic.idle:
                    mic.say(interruption)  # two seconds into the answer
            elif event["type"] == p.RESPONSE_DONE:
                if event["response"]["status"] != "cancelled":
                    print(f"barge-in run ended {event['response']['status']}, not cancelled")
                    return None
                done = time.perf_counter()
                break
    finally:
        await mic.stop()
    await client.close()
    return (done - mic.began[1]) * 1000


async def words(
    server: Server, sentences: list[str], runs: int
) -> tuple[float, float, float]:
    """Mean word error rate, clean and at 10 dB SNR, over fresh Piper renditions, and clean
    with contractions counted as wrong ("weather's" for "weather is")."""
    engine = server.services.stt if server.services else None
    assert engine is not None
    clean: list[float] = []
    noise: list[float] = []
    strict: list[float] = []
    for run in range(runs):
        for index, text in enumerate(sentences):
            from tests.helpers import voice

            voice._made.pop(text, None)  # a fresh rendition: Piper samples its timing anew
            pcm = await spoken(text)
            for pcm_in, out in ((pcm, clean), (noisy(pcm, 10, seed=run * 100 + index), noise)):
                samples = to_listen_rate(pcm_in, 24_000)
                heard = [w async for w in heard_words(engine, samples, language=None, prompt=None)]
                out.append(wer(text, "".join(heard)))
                if out is clean:
                    strict.append(wer(text, "".join(heard), contractions=False))
                if out[-1]:
                    print(f"  misheard ({'clean' if out is clean else '10 dB'}): {text!r} → "
                          f"{''.join(heard).strip()!r}")
    return (
        statistics.mean(clean) * 100,
        statistics.mean(noise) * 100,
        statistics.mean(strict) * 100,
    )


def vad_cpu(seconds: float = 60.0) -> float:
    """Silero on a live 24 kHz stream in 40 ms appends: share of one core, in %."""
    stream = hiss(seconds)
    vad, to16k = VoiceActivity(), _To16k()
    step = 1920
    started = time.process_time()
    for start in range(0, len(stream), step):
        vad.feed(to16k.feed(stream[start : start + step], 24_000))
    return (time.process_time() - started) / seconds * 100


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def process_figures(stt: str, fake: FakeLLM) -> tuple[float, float]:
    """(spawn → ready line in ms, RSS in MB once the recognizer has loaded)."""
    started = time.perf_counter()
    proc = await spawn(
        "--port",
        "0",
        "--tts",
        "none",
        "--stt",
        stt,
        "--llm-base-url",
        fake.base_url,
        "--llm-model",
        "m",
        env=clean_env(),
    )
    await ready_line(proc, 60)
    ready = (time.perf_counter() - started) * 1000
    await asyncio.sleep(4)  # the recognizer loads after the ready line (~1 s)
    rss = rss_mb(proc.pid)
    proc.terminate()
    await proc.wait()
    return ready, rss


def word_error_line(clean: float, noise: float, strict: float, renditions: int) -> str:
    return (
        f"word error rate over {renditions} renditions: clean {clean:.1f} % "
        f"(contractions counted as wrong: {strict:.1f} %), white noise at 10 dB SNR {noise:.1f} %"
    )


async def words_only(runs: int) -> None:
    """The word error rate alone, with the recognizer the server loads."""
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    server = Server(make_settings(llm_base_url="http://127.0.0.1:9", stt="faster-whisper"))
    await server.start()
    await server.listening_ready()
    print(word_error_line(*await words(server, SHORT, runs), len(SHORT) * runs))
    await server.close()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["words"], help="only the word error rate")
    parser.add_argument("--runs", type=int, help="renditions of each sentence (default 3)")
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    if args.only == "words":
        await words_only(runs)
        return
    shorts = [trimmed(await spoken(s)) for s in SHORT]
    longs = [trimmed(await spoken(s)) for s in LONG]
    print(f"load average before: {os.getloadavg()[0]:.2f}, {os.getloadavg()[1]:.2f}")
    async with FakeLLM() as fake:
        server = Server(
            make_settings(
                llm_base_url=fake.base_url, llm_model="m", stt="faster-whisper", tts="piper"
            )
        )
        await server.start()
        await server.listening_ready()
        rows = []
        for label, clips in (("≤ 5 s", shorts), ("5-10 s", longs)):
            got = [await push_to_talk(server, fake, pcm) for _ in range(runs) for pcm in clips]
            secs = [len(pcm) / 48_000 for pcm in clips]
            rows.append(
                f"| push-to-talk, {label} ({min(secs):.1f}-{max(secs):.1f} s) | "
                f"{len(got)} | {stats([g[0] for g in got])} | {stats([g[1] for g in got])} |"
            )
        for early in (True, False):
            Turns.early_decode = early
            got = [await vad_turn(server, fake, pcm) for pcm in shorts[: 4 * runs]]
            name = "early decode" if early else "wait for the commit, then decode"
            rows.append(
                f"| server VAD, {name} | {len(got)} | {stats([g[0] for g in got])} | "
                f"{stats([g[1] for g in got])} |"
            )
        Turns.early_decode = True
        print(
            "| turn | N | → transcript p50 / p90 / max (ms) | → first audio p50 / p90 / max (ms) |"
        )
        print("| --- | --- | --- | --- |")
        print("\n".join(rows))
        tries = [await barge_in(server, fake, shorts[2], shorts[3]) for _ in range(2 + 2 * runs)]
        cuts = [cut for cut in tries if cut is not None]
        print(
            f"\nbarge-in, speech onset → response.done cancelled: N = {len(cuts)}, "
            f"p50 / p90 / max {stats(cuts)} ms"
        )
        print(word_error_line(*await words(server, SHORT, runs), len(SHORT) * runs))
        await server.close()
        print(f"Silero on a live stream: {vad_cpu():.2f} % of one core")
        for stt in ("none", "faster-whisper"):
            figures = [await process_figures(stt, fake) for _ in range(2)]
            ready = statistics.median(f[0] for f in figures)
            rss = statistics.median(f[1] for f in figures)
            print(f"--stt {stt}: spawn → ready line {ready:.0f} ms, RSS after load {rss:.0f} MB")
    print(f"load average after: {os.getloadavg()[0]:.2f}, {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
