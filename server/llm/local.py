"""The local model as an LLM engine: the last automatic choice before the demo responder.

Why in process and not llama-cpp-python's OpenAI server as a child process on a
loopback port: measured side by side on the 2-core machine, same model, context,
threads, sampling and prompt (bench/local_llm_bench.py, docs/benchmarks.md "Local
model"), in process was ahead on every figure: start-up 3.7 s vs 6.5 s, first token
191 vs 241 ms, 37 vs 26 tokens/s, first audio with Piper 1050 vs 1330 ms, 16 of 16
answers without a gap in speech vs 14 of 16 (one 3 s late), and one process's memory
instead of two. The child would also cut a running answer when a second session asks
(its ``interrupt_requests``) or queue it out of our sight. Its one gain, crash
isolation, is covered one level up: a llama.cpp crash ends the companion server, and
the app starts it again (as for any lost server), losing the answer in flight.

One worker thread owns the model (llama.cpp contexts are not thread-safe), so
answers run one at a time, in the order asked; each is cancelled by a flag the
thread checks between tokens.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncGenerator, Callable, Mapping
from pathlib import Path
from typing import Any, Final

from server.errors import UpstreamError
from server.llm import LLMEvent, LLMProvider, Message
from server.llm.local_model import MODEL_NAME, LocalModel, model_path, unavailable_reason

log = logging.getLogger(__name__)

LABEL: Final = (
    "local SmolLM2-135M — small and often wrong; "
    "set OPENAI_API_KEY or start Ollama for a capable model"
)
# A short prompt: a 135M model follows a long one worse, and it costs context.
SYSTEM_PROMPT: Final = (
    "You are a voice assistant. Answer in one to three short, plain sentences "
    "that sound natural when read aloud: no lists, no code, no markdown."
)


class _End:
    """The worker finished (``error`` set when it failed)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


_Put = Callable[[LLMEvent | _End], None]


class LocalLLM(LLMProvider):
    """SmolLM2-135M in this process, streamed from its own worker thread."""

    name = "local"
    label = LABEL
    is_demo = False
    model = MODEL_NAME

    def __init__(self, model: LocalModel, executor: concurrent.futures.ThreadPoolExecutor) -> None:
        self._model = model
        self._executor = executor
        self._turn = asyncio.Lock()  # FIFO: sessions asking at once are served in order

    def __repr__(self) -> str:
        return f"LocalLLM({MODEL_NAME})"

    @classmethod
    async def load(cls) -> LocalLLM:
        """Load and warm the model on its worker thread; UpstreamError if it cannot run."""
        if reason := unavailable_reason():
            raise UpstreamError(f"The local model cannot run: {reason}.")
        path = model_path()
        assert path is not None
        executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="local-llm")
        loop = asyncio.get_running_loop()
        try:
            model = await loop.run_in_executor(executor, _loaded, path)
        except Exception as exc:
            executor.shutdown(wait=False)
            raise UpstreamError(f"The local model cannot run: {exc}") from exc
        return cls(model, executor)

    async def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        max_output_tokens: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[LLMEvent, None]:
        """Stream one answer; closing the stream stops the generation within a token.

        The small model calls no tools: ``options`` and any tool messages are left out.
        """
        async with self._turn:
            queue: asyncio.Queue[LLMEvent | _End] = asyncio.Queue()
            stop = threading.Event()
            loop = asyncio.get_running_loop()

            def put(item: LLMEvent | _End) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, item)

            job = loop.run_in_executor(
                self._executor, self._run, _speakable(messages), max_output_tokens, stop, put
            )
            try:
                while not isinstance(item := await queue.get(), _End):
                    yield item
                if item.error is not None:
                    raise item.error
            finally:
                # Closed early or cancelled: the thread sees the flag at its next token.
                stop.set()
                job.cancel()  # a job still queued behind another never starts

    def _run(
        self,
        messages: list[dict[str, str]],
        cap: int | None,
        stop: threading.Event,
        put: _Put,
    ) -> None:
        """On the worker thread: one generation, then the end marker (with any error)."""
        try:
            if not stop.is_set():
                self._model.generate(self._model.prompt(messages), cap, stop, put)
        except Exception as exc:
            put(_End(exc))
        else:
            put(_End())

    async def models(self) -> list[str] | None:
        """The one local model."""
        return [MODEL_NAME]

    async def context_window(self, model: str) -> int | None:
        """The model's context, as loaded (``local_model.CONTEXT_CAP`` at most)."""
        return self._model.n_ctx

    async def aclose(self) -> None:
        """Let the worker finish (every generation has been stopped by then) and stop it."""
        await asyncio.to_thread(self._executor.shutdown, True)


def _loaded(path: Path) -> LocalModel:
    """Load the model and run it once (on the worker thread)."""
    model = LocalModel(path)
    model.warm_up()
    log.info("local model %s loaded, context %d tokens", MODEL_NAME, model.n_ctx)
    return model


def _speakable(messages: list[Message]) -> list[dict[str, str]]:
    """The conversation's text turns with the short speakable prompt first, before any
    client's own (tool calls and their results are left out: the chat template has no
    place for them)."""
    messages = [
        {"role": m["role"], "content": m["content"]}
        for m in messages
        if m.get("role") in ("system", "user", "assistant")
        and isinstance(m.get("content"), str)
        and m["content"]
    ]
    head = {"role": "system", "content": SYSTEM_PROMPT}
    if messages and messages[0].get("role") == "system":
        first = messages[0]
        merged = f"{SYSTEM_PROMPT}\n{first.get('content', '')}"
        return [{"role": "system", "content": merged}, *messages[1:]]
    return [head, *messages]
