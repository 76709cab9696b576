"""Token estimates are conservative in any language; overflow errors are recognised."""

from __future__ import annotations

import json

import pytest

from server.errors import ContextOverflow
from server.llm.context import (
    TokenEstimator,
    estimate_messages,
    estimate_text,
    is_overflow,
    overflow_window,
)
from server.llm.sse import error_from_payload
from tests.fakes.context_limits import overflow_body

ENGLISH = (
    "The quick brown fox jumps over the lazy dog, and then it runs back home to tell "
    "everyone what it has done today."
)
CHINESE = "今天天气很好，我们一起去公园散步吧。北京是中国的首都，有很多名胜古迹。"
CODE = 'def add(a: int, b: int) -> int:\n    """Sum."""\n    return a + b  # {x: [1, 2]}\n'


def test_chinese_counts_at_least_one_token_per_character() -> None:
    # Chinese runs about one character per token in common tokenizers.
    assert estimate_text(CHINESE) >= len(CHINESE)


def test_english_counts_more_tokens_than_words() -> None:
    # OpenAI's rule of thumb: 100 tokens are about 75 English words (1.33 per word).
    words = len(ENGLISH.split())
    assert estimate_text(ENGLISH) >= 1.33 * words


def test_code_counts_at_least_one_token_per_three_and_a_half_characters() -> None:
    # Code tokenises worse than prose (symbols, indentation): about 3-4 characters a token.
    assert estimate_text(CODE) >= len(CODE) / 3.5


def test_every_message_costs_its_template_overhead() -> None:
    one = estimate_messages([{"role": "user", "content": ""}])
    two = estimate_messages([{"role": "user", "content": ""}] * 2)
    assert two > one > 0


def test_usage_figures_calibrate_the_estimate() -> None:
    messages = [{"role": "user", "content": "x" * 300}]
    estimator = TokenEstimator()
    raw = estimator.messages(messages)
    # A tokenizer that spends one token per byte (as a byte-level vocabulary does).
    estimator.observe(messages, prompt_tokens=330)
    assert estimator.calibrated
    assert estimator.messages(messages) >= 330 > raw


@pytest.mark.parametrize("style", ["openai", "llamacpp", "llama_cpp_python"])
def test_real_servers_overflow_errors_become_context_overflow_with_the_window(style: str) -> None:
    status, body = overflow_body(style, window=512, asked=700)
    error = error_from_payload(json.loads(body), context="The LLM refused", status=status)
    assert isinstance(error, ContextOverflow)
    assert error.code == "context_length_exceeded"
    assert error.window == 512


def test_other_errors_are_not_overflows() -> None:
    assert not is_overflow("Invalid API key", "invalid_request_error", "invalid_api_key")
    assert not is_overflow("model 'x' not found", None, None)
    assert overflow_window("rate limited for 60 s") is None
