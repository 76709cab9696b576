"""How big a conversation is in tokens, and how upstreams say it was too big.

No tokenizer is at hand for an arbitrary upstream, so the size is *estimated*
conservatively: one token per three UTF-8 bytes, plus a few tokens per message
for the chat template. That is one token per CJK character (Chinese runs about
one character per token), about 1.9 per English word (real tokenizers use
~1.3) and one per three characters of code (real: three to four). When the
upstream reports ``usage``, a ``TokenEstimator`` scales its estimate by what the
upstream really counted for the messages it was sent.

``overflow_window`` recognises the "too long" errors of OpenAI, vLLM,
llama.cpp's server and llama-cpp-python, and reads the context size they name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from server.llm import Message

# Role markers and separators a chat template adds around every message
# (llama 3: five special tokens; ChatML: four plus the role).
MESSAGE_OVERHEAD: Final = 8
# The template's opening and the assistant header the answer starts after.
PROMPT_OVERHEAD: Final = 16
BYTES_PER_TOKEN: Final = 3
# A calibrated estimate keeps this margin over what the upstream counted.
CALIBRATION_MARGIN: Final = 1.1
_SCALE_LIMITS: Final = (0.5, 16.0)

OVERFLOW_CODES: Final = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_OVERFLOW_TEXT: Final = re.compile(
    r"maximum context length|exceeds? (?:the )?(?:available )?context|context window of"
    r"|context[_ ](?:length|size|window)[^.]{0,40}exceed|too many tokens|prompt is too long",
    re.IGNORECASE,
)
# The window size as the known messages state it, e.g. OpenAI/vLLM/llama-cpp-python's
# "maximum context length is 4096 tokens" and llama-cpp-python's "context window of 512".
_WINDOW_TEXT: Final = re.compile(
    r"(?:maximum context length is|context window of|context size of|n_ctx\D{0,3})\s*(\d+)",
    re.IGNORECASE,
)


def estimate_text(text: str) -> int:
    """Conservative token count of ``text`` for any tokenizer's usual vocabulary."""
    return math.ceil(len(text.encode("utf-8", "replace")) / BYTES_PER_TOKEN)


def estimate_message(message: Message) -> int:
    """Estimated tokens of one chat message, template overhead included."""
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    if "tool_calls" in message:  # the calls' JSON is what the model reads of them
        text += json.dumps(message["tool_calls"])
    return estimate_text(text) + MESSAGE_OVERHEAD


def estimate_messages(messages: Sequence[Message]) -> int:
    """Estimated prompt tokens of a whole request."""
    return PROMPT_OVERHEAD + sum(estimate_message(m) for m in messages)


@dataclass(slots=True)
class TokenEstimator:
    """The raw estimate, scaled by what the upstream reported for a past request."""

    scale: float = 1.0
    calibrated: bool = False

    def messages(self, messages: Sequence[Message]) -> int:
        """Estimated prompt tokens of ``messages``."""
        return math.ceil(estimate_messages(messages) * self.scale)

    def message(self, message: Message) -> int:
        """Estimated tokens of one message."""
        return math.ceil(estimate_message(message) * self.scale)

    def observe(self, messages: Sequence[Message], prompt_tokens: int) -> None:
        """Learn from the upstream's ``usage.prompt_tokens`` for ``messages``."""
        raw = estimate_messages(messages)
        if prompt_tokens <= 0 or raw <= 0:
            return
        low, high = _SCALE_LIMITS
        self.scale = min(high, max(low, prompt_tokens / raw * CALIBRATION_MARGIN))
        self.calibrated = True


def is_overflow(message: str, kind: str | None, code: object) -> bool:
    """Whether an upstream error says the conversation does not fit the context."""
    if (isinstance(code, str) and code in OVERFLOW_CODES) or kind in OVERFLOW_CODES:
        return True
    return bool(_OVERFLOW_TEXT.search(message))


def overflow_window(message: str, payload: Any = None) -> int | None:
    """The context size an overflow error names, if it names one."""
    error = payload.get("error", payload) if isinstance(payload, dict) else None
    if isinstance(error, dict):
        # llama.cpp's server: {"type": "exceed_context_size_error", "n_ctx": 4096, ...}
        n_ctx = error.get("n_ctx")
        if isinstance(n_ctx, int) and not isinstance(n_ctx, bool) and n_ctx > 0:
            return n_ctx
    found = _WINDOW_TEXT.search(message)
    return int(found.group(1)) if found else None
