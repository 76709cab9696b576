"""Speech for the listening tests, made by Piper (the server's own voice), and the word
error rate to judge what the recognizer heard."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Iterator

import numpy as np

from server.speech.piper import PiperTTS

RATE = 24_000
BYTES_PER_S = RATE * 2

_piper: PiperTTS | None = None
_made: dict[str, bytes] = {}


async def spoken(text: str) -> bytes:
    """``text`` said by Piper: PCM16 mono 24 kHz (made once per test run)."""
    global _piper
    if text not in _made:
        if _piper is None:
            _piper = PiperTTS()
        _made[text] = b"".join([c async for c in _piper.synthesize(text)])
    return _made[text]


def silence(seconds: float) -> bytes:
    """Digital silence, PCM16 24 kHz."""
    return bytes(int(seconds * RATE) * 2)


def noisy(pcm: bytes, snr_db: float, seed: int = 0) -> bytes:
    """``pcm`` with white noise added at ``snr_db`` (speech power over noise power)."""
    x = np.frombuffer(pcm, np.int16).astype(np.float64)
    power = float(np.mean(x**2))
    noise = np.random.default_rng(seed).normal(0, (power / 10 ** (snr_db / 10)) ** 0.5, x.size)
    return np.clip(np.rint(x + noise), -32768, 32767).astype("<i2").tobytes()


def hiss(seconds: float, level: float = 300.0, seed: int = 1) -> bytes:
    """Quiet white noise (a room, a fan), PCM16 24 kHz."""
    noise = np.random.default_rng(seed).normal(0, level, int(seconds * RATE))
    return np.clip(np.rint(noise), -32768, 32767).astype("<i2").tobytes()


def pieces(pcm: bytes, ms: int = 40) -> Iterator[str]:
    """``pcm`` cut as a microphone sends it: base64 appends of ``ms`` each."""
    step = BYTES_PER_S * ms // 1000
    for start in range(0, len(pcm), step):
        yield base64.b64encode(pcm[start : start + step]).decode()


# Contractions written out, as Whisper's English text normaliser does before scoring: "the
# weather's lovely" is what was said in "the weather is lovely", not a wrong word.
CONTRACTIONS = (
    (r"\bwon't\b", "will not"),
    (r"\bcan't\b", "can not"),
    (r"\blet's\b", "let us"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'s\b", " is"),
    (r"'d\b", " would"),
    (r"'ll\b", " will"),
    (r"'ve\b", " have"),
    (r"'m\b", " am"),
)


def words(text: str, *, contractions: bool = True) -> list[str]:
    """Lower-case words, punctuation dropped (a typographic apostrophe read as a plain one,
    a hyphenated word as one word: "i-full" is one misheard word, not two), contractions
    written out unless ``contractions`` is False."""
    text = text.lower().replace("\u2019", "'").replace("-", "")
    if contractions:
        for pattern, written in CONTRACTIONS:
            text = re.sub(pattern, written, text)
    return re.findall(r"[a-z0-9']+", text)


def wer(reference: str, heard: str, *, contractions: bool = True) -> float:
    """Word error rate: edits (substitutions, insertions, deletions) over reference words;
    ``contractions=False`` counts "weather's" for "weather is" as wrong."""
    ref = words(reference, contractions=contractions)
    hyp = words(heard, contractions=contractions)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / max(1, len(ref))


def heard_as(reference: str, heard: str) -> bool:
    """Whether ``heard`` is ``reference`` but for at most one word.

    Piper says a sentence a little differently each time, and tiny.en now and then hears
    one word of a rendition wrong ("the good book" for "a good book"): a pipeline that
    loses or garbles speech gets far more than one word wrong.
    """
    return round(wer(reference, heard) * len(words(reference))) <= 1


class Microphone:
    """A live microphone on a Realtime connection: 40 ms appends every 40 ms, silence
    (or quiet hiss) between the sentences it is told to ``say``."""

    def __init__(self, append: Callable[..., Awaitable[object]], floor: bytes = b"") -> None:
        self._append = append
        self._queue = bytearray()
        self._floor = floor or silence(0.04)
        self.sent_s = 0.0
        self.said_at: list[float] = []
        """Seconds of sent audio at which each ``say`` began to be sent."""
        self._task: asyncio.Task[None] | None = None
        self._speaking = False
        self.began: list[float] = []
        """perf_counter when each stretch of speech began to be sent."""
        self.ended: list[float] = []
        """perf_counter when each stretch of speech was sent whole."""

    def say(self, pcm: bytes) -> None:
        """Queue ``pcm`` to be sent next, in real time."""
        self._queue += pcm
        self.said_at.append(self.sent_s + len(self._queue[: -len(pcm)]) / BYTES_PER_S)

    def start(self) -> None:
        """Begin sending."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop sending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def idle(self) -> bool:
        """Whether everything it was told to say has been sent."""
        return not self._queue

    async def _run(self) -> None:
        step = BYTES_PER_S * 40 // 1000
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            speaking = bool(self._queue)
            if speaking:
                chunk = bytes(self._queue[:step])
                del self._queue[:step]
                chunk += bytes(step - len(chunk))
            else:
                chunk = self._floor[:step]
            await self._append(audio=base64.b64encode(chunk).decode())
            if speaking and not self._speaking:
                self.began.append(time.perf_counter())
            if self._speaking and not self._queue:
                self.ended.append(time.perf_counter())
            self._speaking = bool(self._queue)
            self.sent_s += 0.04
            await asyncio.sleep(max(0.0, began + self.sent_s - loop.time()))
