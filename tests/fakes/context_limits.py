"""How real OpenAI-compatible servers refuse a prompt longer than their context.

The fake upstream counts a word as a token (``prompt_tokens``) and answers an oversized
prompt with the status and body a real server sends (``overflow_body``).
"""

from __future__ import annotations

import json
from typing import Any


def prompt_tokens(messages: object) -> int:
    """The fake's token count of a prompt: its words."""
    if not isinstance(messages, list):
        return 0
    return sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))


def overflow_body(style: str, window: int, asked: int) -> tuple[int, str]:
    """The status and body a real server answers a prompt of ``asked`` tokens with."""
    if style == "openai":  # OpenAI, vLLM and llama-cpp-python's server
        message = (
            f"This model's maximum context length is {window} tokens. However, you requested "
            f"{asked} tokens ({asked} in the messages, 0 in the completion). Please reduce the "
            "length of the messages or completion."
        )
        error: dict[str, Any] = {
            "message": message,
            "type": "invalid_request_error",
            "param": "messages",
        }
        return 400, json.dumps({"error": error | {"code": "context_length_exceeded"}})
    if style == "llamacpp":  # llama.cpp's own server
        error = {
            "code": 400,
            "message": "the request exceeds the available context size, try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": asked,
            "n_ctx": window,
        }
        return 400, json.dumps({"error": error})
    if style == "llama_cpp_python":  # its raw ValueError, as a 500
        message = f"Requested tokens ({asked}) exceed context window of {window}"
        return 500, json.dumps({"error": {"message": message, "type": "internal_server_error"}})
    raise ValueError(f"unknown overflow style {style!r}")
