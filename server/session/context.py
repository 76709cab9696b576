"""Keeping a conversation within the model's context, and recovering when it still overflows.

Before each answer the history is *fitted*: the system prompt and the newest message
always stay; older messages go, oldest first, until the estimate (``server.llm.context``)
plus room for the answer fits the window. The window is what the upstream states
(``LLMProvider.context_window``), else the configured budget, and it shrinks to what an
overflow error or a context-filled answer reveals (``ContextBook``, shared by all
sessions, so one session's lesson serves the next).

When the upstream still refuses (an overflow error before any text) the answer is asked
once more with fewer turns. Either way the user is told in plain words with a
``Notice`` that early turns were left out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from server import protocol as p
from server.errors import ContextOverflow, UpstreamError, UpstreamProtocolError
from server.llm import Finished, LLMEvent, LLMProvider, Message, TextDelta, ToolCallDelta, Usage
from server.llm.context import TokenEstimator

log = logging.getLogger("talkterm.server")

Messages = list[Message]
# The client's own request fields for the upstream (tools, temperature…).
Options = Mapping[str, Any]
TRIMMED: Final = p.CONTEXT_TRIMMED
FULL: Final = p.CONTEXT_FULL
# An answer that stops at the context's end with less than this many tokens left no
# room to answer: the window is known from then on.
_ROOM_MIN: Final = 16


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should know about this answer; it does not fail it."""

    code: str
    message: str


ContextEvent = LLMEvent | Notice


@dataclass(slots=True)
class ModelContext:
    """What is known about one model's context."""

    window: int | None
    estimator: TokenEstimator = field(default_factory=TokenEstimator)

    def learn(self, window: int | None) -> None:
        """Take a window the upstream revealed, if it is smaller than the one we had."""
        if window and window > 0 and (self.window is None or window < self.window):
            log.info("the model's context holds %d tokens", window)
            self.window = window


class ContextBook:
    """Per model: the window and the token estimator; shared by every session."""

    def __init__(self, llm: LLMProvider, configured: int | None = None) -> None:
        self._llm = llm
        self._configured = configured
        self._models: dict[str, ModelContext] = {}
        self._stated: set[str] = set()

    async def model(self, name: str) -> ModelContext:
        """What is known about ``name``. The upstream's stated window is learnt once its
        probe has answered (it runs in the background: ``server.llm.window_probe``); the
        configured budget serves meanwhile."""
        context = self._models.get(name)
        if context is None:
            context = self._models[name] = ModelContext(self._configured)
        if name not in self._stated:
            stated = await self._llm.context_window(name)
            if stated:
                self._stated.add(name)
                context.learn(stated)
        return context


@dataclass(frozen=True, slots=True)
class Fitted:
    """The messages to send and how many of the history's were left out."""

    messages: Messages
    left_out: int


def answer_room(window: int, cap: int | None) -> int:
    """Tokens kept free for the answer: the cap, or a quarter, at most half the window."""
    return min(cap if cap else window // 4, window // 2)


def fit(
    messages: Messages,
    context: ModelContext,
    cap: int | None,
    *,
    keep_at_most: int | None = None,
) -> Fitted:
    """Drop the oldest history until the request fits; keep ``keep_at_most`` history at most."""
    head = messages[: _head_count(messages)]
    newest, history = messages[len(head) :][-1:], messages[len(head) : -1]
    if not newest:
        return Fitted(list(messages), 0)
    if keep_at_most is not None:
        history = history[len(history) - keep_at_most :] if keep_at_most > 0 else []
    window = context.window
    if window is not None:
        history = _within(history, head + newest, context, window, cap)
    # A history that starts with an answer has lost its question: drop that answer too;
    # a tool result whose call was dropped goes with it (Chat Completions refuses it).
    while history and history[0]["role"] in ("assistant", "tool"):
        history = history[1:]
    total = len(messages) - len(head) - 1
    return Fitted(head + history + newest, total - len(history))


def _within(
    history: Messages, fixed: Messages, context: ModelContext, window: int, cap: int | None
) -> Messages:
    """The newest part of ``history`` that fits beside ``fixed`` and the answer's room."""
    estimate = context.estimator
    room = answer_room(window, cap)
    budget = window - room - estimate.messages(fixed)
    if budget < 0:
        raise _too_long(estimate.messages(fixed), window, room)
    kept = 0
    for message in reversed(history):
        budget -= estimate.message(message)
        if budget < 0:
            break
        kept += 1
    return history[len(history) - kept :]


def _too_long(need: int, window: int, room: int) -> ContextOverflow:
    return ContextOverflow(
        f"Your message is too long for the model: it takes about {need} tokens with the system "
        f"prompt, and the model reads at most {window} tokens, {room} of them kept for the "
        "answer. Shorten it or split it into parts.",
        window=window,
    )


class SessionContext:
    """One session's view: fits each answer's history and retries once on overflow."""

    def __init__(self, book: ContextBook) -> None:
        self.book = book
        self._told_trimmed = False

    async def reply(
        self,
        llm: LLMProvider,
        messages: Messages,
        *,
        model: str,
        cap: int | None,
        options: Options | None = None,
    ) -> AsyncIterator[ContextEvent]:
        """Stream the answer to ``messages`` fitted to ``model``'s context, with notices."""
        context = await self.book.model(model)
        fitted = fit(messages, context, cap)
        if fitted.left_out and not self._told_trimmed:
            self._told_trimmed = True
            yield Notice(TRIMMED, _trimmed_message(fitted.left_out, context.window))
        first = _Attempt(context, fitted.messages, cap, options)
        refusal: UpstreamError | None = None
        try:
            async for event in first.run(llm, model):
                yield event
        except (ContextOverflow, UpstreamProtocolError) as exc:
            refusal = _refusal(exc, first, context)
        if refusal is None and not first.left_no_room:
            if first.context_filled:
                yield Notice(FULL, _full_message(said_something=True))
            return
        retry = _smaller(messages, fitted, context, cap)
        if retry is None:
            if refusal is not None:
                raise _cannot_shrink(refusal, context)
            yield Notice(FULL, _full_message(said_something=False))
            return
        self._told_trimmed = True
        cut = isinstance(refusal, UpstreamProtocolError)
        yield Notice(TRIMMED, _retry_message(retry.left_out, cut=cut))
        async for later in _again(llm, model, context, retry, cap, options):
            yield later
        if refusal is not None and not (isinstance(refusal, ContextOverflow) and refusal.window):
            # The upstream named no size, but a request this big failed where a smaller
            # one worked: keep the next ones below it (in our own estimate's units).
            context.learn(context.estimator.messages(fitted.messages))


async def _again(
    llm: LLMProvider,
    model: str,
    context: ModelContext,
    retry: Fitted,
    cap: int | None,
    options: Options | None,
) -> AsyncIterator[ContextEvent]:
    """The retry with fewer turns; a cut before its first word is the transport's: once more.

    llama-cpp-python may drop the connection it failed on only after the retry went out on
    it (seen in 1 run of 15 against the real server).
    """
    attempt = _Attempt(context, retry.messages, cap, options)
    try:
        async for event in attempt.run(llm, model):
            yield event
    except UpstreamProtocolError as exc:
        if attempt.text_sent or exc.cut_after != 0:
            raise
        attempt = _Attempt(context, retry.messages, cap, options)
        async for event in attempt.run(llm, model):
            yield event
    if attempt.context_filled:
        yield Notice(FULL, _full_message(said_something=attempt.text_sent > 0))


def _refusal(exc: UpstreamError, attempt: _Attempt, context: ModelContext) -> UpstreamError:
    """``exc`` if it refused the request for its size (learning the size it names)."""
    if attempt.text_sent or not _refused_for_size(exc):
        raise exc
    context.learn(exc.window if isinstance(exc, ContextOverflow) else None)
    return exc


def _cannot_shrink(refusal: UpstreamError, context: ModelContext) -> UpstreamError:
    """What to say when the refused request had no history left to leave out."""
    if isinstance(refusal, ContextOverflow):
        return _nothing_to_drop(context.window)
    return UpstreamProtocolError(
        f"{refusal.message} A message too long for the model's context ends like this: "
        "try a shorter one.",
        cut_after=0,
    )


def _refused_for_size(exc: UpstreamError) -> bool:
    """An overflow error, or a stream cut before its first word.

    llama-cpp-python's server answers an oversized streaming request with 200 and then
    drops the stream (its "exceed context window" error stays in its own log), so a
    stream cut before any text is taken for a full context when there is history to drop.
    """
    if isinstance(exc, UpstreamProtocolError):
        return exc.cut_after == 0
    return isinstance(exc, ContextOverflow)


def _smaller(
    messages: Messages, fitted: Fitted, context: ModelContext, cap: int | None
) -> Fitted | None:
    """A fit with at most half the history sent before; None if none was sent."""
    sent_history = len(fitted.messages) - _head_count(messages) - 1
    if sent_history <= 0:
        return None
    return fit(messages, context, cap, keep_at_most=sent_history // 2)


def _head_count(messages: Messages) -> int:
    return 1 if messages and messages[0]["role"] == "system" else 0


class _Attempt:
    """One request upstream: passes its events on and learns from usage and finish."""

    def __init__(
        self, context: ModelContext, messages: Messages, cap: int | None, options: Options | None
    ) -> None:
        self._context = context
        self._messages = messages
        self._cap = cap
        self._options = options
        self.text_sent = 0
        self.context_filled = False

    @property
    def left_no_room(self) -> bool:
        """The context was full before the answer said anything."""
        return self.context_filled and not self.text_sent

    async def run(self, llm: LLMProvider, model: str) -> AsyncIterator[LLMEvent]:
        """Stream one reply upstream."""
        finished: str | None = None
        usage: Usage | None = None
        stream = llm.stream(
            self._messages, model=model, max_output_tokens=self._cap, options=self._options
        )
        async for event in stream:
            if isinstance(event, TextDelta):
                self.text_sent += len(event.text)
            elif isinstance(event, ToolCallDelta):
                self.text_sent += len(event.arguments) + 1  # a call says something
            elif isinstance(event, Finished):
                finished = event.reason
            elif isinstance(event, Usage):
                usage = event
                self._context.estimator.observe(self._messages, event.input_tokens)
            yield event
        if finished == "length":
            self._stopped_by_length(usage)

    def _stopped_by_length(self, usage: Usage | None) -> None:
        """A "length" stop short of the cap means the context, not the cap, ran out."""
        if usage is None:
            # Without figures: with no cap only the context can stop it; with one, an
            # answer that said (almost) nothing hit the context's end.
            self.context_filled = self._cap is None or self.text_sent < _ROOM_MIN
            return
        if self._cap is not None and usage.output_tokens >= self._cap:
            return
        self.context_filled = True
        total = usage.total_tokens or usage.input_tokens + usage.output_tokens
        self._context.learn(total)
        log.info("the answer filled the model's context at %d tokens", total)


def _nothing_to_drop(window: int | None) -> ContextOverflow:
    size = f" ({window} tokens)" if window else ""
    return ContextOverflow(
        f"Your message is too long for the model's context{size}, even with every earlier "
        "turn left out. Shorten it or split it into parts.",
        window=window,
    )


def _trimmed_message(left_out: int, window: int | None) -> str:
    size = f" (about {window} tokens)" if window else ""
    return (
        f"This conversation no longer fits the model's context{size}: its {left_out} earliest "
        f"{_messages(left_out)} are left out of what the model reads from now on."
    )


def _retry_message(left_out: int, *, cut: bool) -> str:
    why = (
        "The LLM dropped the request before answering, as it does when a conversation "
        "outgrows its context"
        if cut
        else "The model's context was full"
    )
    return (
        f"{why}, so the question was asked again without the {left_out} earliest "
        f"{_messages(left_out)} of this conversation."
    )


def _full_message(said_something: bool) -> str:
    what = "The answer stopped because" if said_something else "No answer came because"
    return (
        f"{what} the model's context is full. Early turns of this conversation will be left "
        "out from the next question on, so you can carry on."
    )


def _messages(count: int) -> str:
    return "message" if count == 1 else "messages"
