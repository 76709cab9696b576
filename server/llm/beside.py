"""The local model offered beside a chosen upstream, picked per request by its model name.

When an upstream answers (OpenAI, Ollama, a configured endpoint) and the local model is
installed, its model list gains ``SmolLM2-135M-Instruct``, so the settings screen lists it
beside the upstream's models. The model is loaded only when first asked for: a person
who never picks it pays neither the second of loading nor its memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Any, cast

from server.llm import LLMEvent, LLMProvider, Message
from server.llm.local import LocalLLM
from server.llm.local_model import MODEL_NAME, unavailable_reason

log = logging.getLogger(__name__)


def with_local_model(upstream: LLMProvider, enabled: bool) -> LLMProvider:
    """``upstream``, with the local model beside it when enabled and installed."""
    if not enabled or upstream.is_demo or isinstance(upstream, LocalLLM):
        return upstream
    if reason := unavailable_reason():
        log.debug("no local model beside the upstream: %s", reason)
        return upstream
    return UpstreamAndLocal(upstream)


class UpstreamAndLocal(LLMProvider):
    """An upstream that also offers the local model under its own name."""

    name = "upstream+local"

    is_demo = False

    def __init__(self, upstream: LLMProvider) -> None:
        self.upstream = upstream
        self.label = upstream.label
        self.model = upstream.model
        self._local: LocalLLM | None = None
        self._loading = asyncio.Lock()

    def __repr__(self) -> str:
        return f"UpstreamAndLocal({self.upstream!r})"

    async def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        max_output_tokens: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[LLMEvent, None]:
        """The local model's answer when ``model`` names it, else the upstream's."""
        chosen: LLMProvider = await self._loaded() if model == MODEL_NAME else self.upstream
        stream = chosen.stream(
            messages, model=model, max_output_tokens=max_output_tokens, options=options
        )
        async with contextlib.aclosing(cast("AsyncGenerator[LLMEvent, None]", stream)) as events:
            async for event in events:
                yield event

    async def models(self) -> list[str] | None:
        """The upstream's models, then the local one."""
        listed = await self.upstream.models()
        return [*(listed if listed is not None else [self.upstream.model]), MODEL_NAME]

    async def context_window(self, model: str) -> int | None:
        """The local model's context for its name, else what the upstream states."""
        if model == MODEL_NAME:
            return await (await self._loaded()).context_window(model)
        return await self.upstream.context_window(model)

    async def aclose(self) -> None:
        """Close the upstream and, if it was loaded, the local model."""
        await self.upstream.aclose()
        if self._local is not None:
            await self._local.aclose()

    async def _loaded(self) -> LocalLLM:
        async with self._loading:
            if self._local is None:
                self._local = await LocalLLM.load()
            return self._local
