"""A fake LLM that answers each session from its own script, so two can run at once."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from tests.fakes.llm_upstream import FakeLLM, Reply, chunk_text

NORMAL_TEXT: Final = "All is well after the storm."
FUZZ_TEXT: Final = "Fuzzing is fun. It finds the corners nobody thought of."
QUICK_TEXT: Final = "Quick answer."
BYSTANDER_PROMPT: Final = "bystander"
BYSTANDER_TEXT: Final = (
    "I am the bystander, and I stream a long answer while another session is fuzzed. "
    "Every word of it must arrive, in order, exactly as the upstream wrote it. "
    "Nothing the other session sends may disturb me."
)

# How the fuzzed session's responses behave: finish fast, trickle, or never finish.
REPLIES: Final = {
    "quick": (lambda: Reply(chunks=chunk_text(QUICK_TEXT)), QUICK_TEXT),
    "slow": (lambda: Reply(chunks=chunk_text(FUZZ_TEXT), delay=0.003), FUZZ_TEXT),
    "stall": (lambda: Reply(chunks=chunk_text(FUZZ_TEXT), fault="stall", cut_after=5), FUZZ_TEXT),
}


class RoutedLLM(FakeLLM):
    """Bystander prompts get the bystander's long answer; everything else ``fuzz_reply``."""

    def __init__(self) -> None:
        super().__init__()
        self.fuzz_reply = "normal"
        # Replies in the fuzz_reply script still streaming: a cancel must close them.
        self.open_fuzz_replies = 0
        self._reply_ended = asyncio.Event()

    def fuzz_text(self) -> str:
        """The full text the fuzzed session's responses stream."""
        return NORMAL_TEXT if self.fuzz_reply == "normal" else REPLIES[self.fuzz_reply][1]

    async def _reply(self, conn: Any, request: dict[str, Any], reply: Reply) -> bool:
        # The queued reply is ignored: sessions run concurrently, so FIFO order means nothing.
        routed, fuzzed = self._route(request)
        self.open_fuzz_replies += fuzzed
        try:
            return await super()._reply(conn, request, routed)
        finally:
            self.open_fuzz_replies -= fuzzed
            self._reply_ended.set()

    async def settled(self, allowed: int, timeout: float = 1.0) -> None:
        """Wait until at most ``allowed`` fuzz replies are still streaming."""
        try:
            async with asyncio.timeout(timeout):
                while self.open_fuzz_replies > allowed:
                    self._reply_ended.clear()
                    await self._reply_ended.wait()
        except TimeoutError:
            raise AssertionError(
                f"{self.open_fuzz_replies} upstream replies still streaming, {allowed} expected"
            ) from None

    def _route(self, request: dict[str, Any]) -> tuple[Reply, bool]:
        """The reply, and whether it is one of the fuzzed session's scripted ones."""
        if _last_user_text(request).startswith(BYSTANDER_PROMPT):
            return Reply(chunks=chunk_text(BYSTANDER_TEXT), delay=0.002), False
        if self.fuzz_reply == "normal":
            return Reply(chunks=chunk_text(NORMAL_TEXT)), False
        return REPLIES[self.fuzz_reply][0](), True


def _last_user_text(request: dict[str, Any]) -> str:
    messages = request.get("messages") or []
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    return content if isinstance(content, str) else ""
