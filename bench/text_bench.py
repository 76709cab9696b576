"""Text processing cost per MB: 10 MB in one chunk and in 10-character chunks.

Feeds each kind of hostile text through what the server runs on every LLM delta:
the SSE decoder (one Chat Completions event per chunk, the body arriving in
pieces of the same size),
the sentence splitter, speakable() on every segment, and the transcript item.
Work must be linear: the time per MB should not depend on the size.

    .venv/bin/python bench/text_bench.py            # 10 MB per input
    .venv/bin/python bench/text_bench.py --mb 1     # quicker
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.llm.sse import SSEDecoder, parse_chat_chunk
from server.session.conversation import Item
from server.speech.sentences import SentenceSplitter
from server.speech.speakable import speakable

MB = 1 << 20


def inputs(size: int) -> dict[str, str]:
    """The texts, each ``size`` characters long."""

    def fill(unit: str, head: str = "") -> str:
        return (head + unit * (size // len(unit) + 1))[:size]

    return {
        "prose": fill("A plain sentence of prose, with a clause. "),
        "no punctuation": fill("word "),
        "Chinese, no punctuation": fill("汉字"),
        "code block": fill("x = compute(1, 2)\n", "```python\n"),
        "bad fence + emphasis": fill("**x ", "```a`b\n"),
        "backticks": fill("`"),
    }


def pieces(text: str, chunk: int) -> list[str]:
    """``text`` in chunks of ``chunk`` characters (0: one chunk)."""
    return [text] if chunk == 0 else [text[i : i + chunk] for i in range(0, len(text), chunk)]


def sse_body(chunks: list[str]) -> str:
    """The Chat Completions SSE body an upstream sends for these content chunks."""
    events = (json.dumps({"choices": [{"delta": {"content": c}}]}) for c in chunks)
    return "".join(f"data: {event}\n\n" for event in events)


def sse_stage(body: list[str]) -> list[str]:
    """Decode the body as it arrives (in the given pieces) and parse every event."""
    decoder = SSEDecoder()
    return [parse_chat_chunk(event).text for piece in body for event in decoder.feed(piece)]


def splitter_stage(deltas: list[str]) -> int:
    """Split the deltas and make every segment speakable; returns the spoken length."""
    splitter = SentenceSplitter()
    said = 0
    for delta in deltas:
        for segment in splitter.feed(delta):
            said += len(speakable(segment.text))
    return said + sum(len(speakable(s.text)) for s in splitter.flush())


def transcript_stage(deltas: list[str]) -> int:
    """Build the transcript item the way a response does."""
    item = Item(id="item_bench", role="assistant")
    for delta in deltas:
        item.append(delta)
    return len(item.text)


def timed(stage: Callable[[], object]) -> float:
    """Seconds one run of ``stage`` takes."""
    start = time.perf_counter()
    stage()
    return time.perf_counter() - start


def main() -> None:
    """Print a Markdown table of seconds per MB for each input, stage and chunking."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="size of each input in MB")
    args = parser.parse_args()
    size = int(args.mb * MB)
    print(f"Input size: {args.mb:g} MB (characters) per text; seconds per MB\n")
    print("| input | chunks | SSE decode | split + speakable | transcript | total |")
    print("|---|---|---|---|---|---|")
    for name, text in inputs(size).items():
        for chunk in (0, 10):
            body = pieces(sse_body(pieces(text, chunk)), chunk)
            deltas: list[str] = []
            sse = timed(lambda body=body, deltas=deltas: deltas.extend(sse_stage(body)))
            assert "".join(deltas) == text
            split = timed(lambda deltas=deltas: splitter_stage(deltas))
            build = timed(lambda deltas=deltas: transcript_stage(deltas))
            label = "one" if chunk == 0 else f"{chunk} chars"
            row = [sse, split, build, sse + split + build]
            cells = " | ".join(f"{value / args.mb:.2f}" for value in row)
            print(f"| {name} | {label} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
