"""The demo responder: an offline stand-in used when no LLM is configured.

It says plainly that it is not a model and explains how to connect one, so a
first run without any setup still shows streaming text and speech working.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from typing import Final

from server.llm import LLMEvent, TextDelta

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


class DemoLLM:
    """Streams ``DEMO_REPLY`` word by word; never pretends to be a model."""

    label = "demo responder (no LLM configured)"
    is_demo = True

    def __init__(self, *, delay: float = 0.02, reply: str = DEMO_REPLY) -> None:
        self._delay = delay
        self._reply = reply

    def __repr__(self) -> str:
        return "DemoLLM()"

    async def stream(self, messages: list[dict[str, str]]) -> AsyncGenerator[LLMEvent, None]:
        """Stream the fixed reply with a short pause per word, like a slow model."""
        for match in _WORD.finditer(self._reply):
            # The pause is also where a cancelled response stops.
            await asyncio.sleep(self._delay)
            yield TextDelta(match.group())

    async def aclose(self) -> None:
        """Nothing to release."""
