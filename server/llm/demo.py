"""The demo responder: an offline stand-in used when no LLM is configured.

It says plainly that it is not a model and explains how to connect one, so a
first run without any setup still shows streaming text and speech working.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Mapping
from typing import Any, Final

from server.llm import Finished, LLMEvent, LLMProvider, Message, TextDelta

DEMO_REPLY: Final = (
    "This is the talkterm demo responder, not a language model: no LLM is configured, "
    "so this fixed reply explains how to connect one. "
    "To use OpenAI, set OPENAI_API_KEY, or TALKTERM_LLM_API_KEY, and restart the server. "
    "To use a local model, start Ollama and pull a model, for example ollama pull llama3.2, "
    "or start a llama.cpp server on port 8080; talkterm finds either one by itself. "
    "For any other OpenAI-compatible endpoint, pass --llm-base-url and --llm-model, "
    "with its key in TALKTERM_LLM_API_KEY."
)

_WORD: Final = re.compile(r"\S+\s*")
DEMO_MODEL: Final = "demo"


class DemoLLM(LLMProvider):
    """Streams ``DEMO_REPLY`` word by word; never pretends to be a model."""

    name = "demo"
    label = "demo responder (no LLM configured)"
    is_demo = True
    model = DEMO_MODEL

    def __init__(self, *, delay: float = 0.02, reply: str = DEMO_REPLY) -> None:
        self._delay = delay
        self._reply = reply

    def __repr__(self) -> str:
        return "DemoLLM()"

    async def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        max_output_tokens: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[LLMEvent, None]:
        """Stream the fixed reply with a short pause per word (it calls no tools)."""
        for index, match in enumerate(_WORD.finditer(self._reply)):
            if max_output_tokens is not None and index >= max_output_tokens:
                yield Finished("length")
                return
            # The pause is also where a cancelled response stops.
            await asyncio.sleep(self._delay)
            yield TextDelta(match.group())

    async def models(self) -> list[str] | None:
        """The one demo model."""
        return [DEMO_MODEL]

    async def context_window(self, model: str) -> int | None:
        """The demo reads no history, so it has no context limit."""
        return None

    async def aclose(self) -> None:
        """Nothing to release."""
