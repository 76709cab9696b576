"""LLM providers: a small interface, one module per engine, a registry.

A provider streams one reply per call as ``TextDelta`` events, a ``Finished``
when the upstream stopped for a reason other than a natural end (e.g. the
token limit: ``"length"``), then at most one ``Usage``. Closing the stream
(``aclose()`` on the generator, or cancelling the task that awaits it) aborts
the reply at once. Consumers that may stop iterating early should wrap the
stream in ``contextlib.aclosing``.

Engines: ``chat_completions`` (any OpenAI-compatible endpoint), ``local`` (the
small SmolLM2 model in process, loaded asynchronously, so built by
``LocalLLM.load`` rather than from this registry) and ``demo`` (the offline
stand-in). ``server.llm.setup`` decides which one to build, as
``server.speech.setup`` does for speech: both families are an ABC here, one
module per engine, a ``PROVIDERS`` registry and a ``make_*`` function.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]
"""A Chat Completions message: role and content, or an assistant's ``tool_calls``, or a
``tool`` result with its ``tool_call_id``."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply's text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for one reply, sent last when the upstream reports them."""

    input_tokens: int
    output_tokens: int
    total_tokens: int


@dataclass(frozen=True, slots=True)
class Finished:
    """The upstream ended the reply for ``reason`` ("length", "content_filter"…), not "stop"."""

    reason: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call the model makes: its name first, then its arguments' JSON."""

    index: int
    call_id: str | None = None
    name: str | None = None
    arguments: str = ""


LLMEvent = TextDelta | ToolCallDelta | Finished | Usage


class LLMProvider(ABC):
    """An engine that streams replies to a chat history."""

    name: str
    """The engine's name in the registry (``PROVIDERS``)."""
    label: str
    """What a person calls it, for the ready line and messages (never carries a key)."""
    is_demo: bool = False
    """Whether this is the offline stand-in rather than a model."""
    model: str
    """The model answers come from unless a request names another."""

    @abstractmethod
    def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        max_output_tokens: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[LLMEvent]:
        """Stream one reply (of at most ``max_output_tokens``); closing it aborts it at once.

        ``options`` are the client's own request fields (``tools``, ``temperature``…),
        sent to the upstream as they are.
        """

    @abstractmethod
    async def models(self) -> list[str] | None:
        """The models the upstream offers, or None when it cannot say."""

    @abstractmethod
    async def context_window(self, model: str) -> int | None:
        """The context size in tokens the upstream states for ``model``, or None."""

    async def aclose(self) -> None:
        """Release connections; the provider is unusable afterwards."""
        return None


def _chat_completions() -> type[LLMProvider]:
    # Imported on use: httpx and the client load only when an endpoint is used.
    from server.llm.chat_completions import ChatCompletionsLLM

    return ChatCompletionsLLM


def _demo() -> type[LLMProvider]:
    from server.llm.demo import DemoLLM

    return DemoLLM


PROVIDERS: dict[str, Callable[[], type[LLMProvider]]] = {
    "chat_completions": _chat_completions,
    "demo": _demo,
}


def provider_class(name: str) -> type[LLMProvider]:
    """The engine class registered as ``name``."""
    try:
        load = PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise ValueError(f"unknown LLM provider {name!r}; choose one of {known}") from None
    return load()


def make_llm(name: str, **options: Any) -> LLMProvider:
    """Build the engine registered as ``name`` with its keyword options."""
    return provider_class(name)(**options)
