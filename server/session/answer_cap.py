"""How much one answer may say, whatever the upstream does with ``max_tokens``.

The cap is forwarded upstream, but an upstream may ignore it (or the client set none):
an endless one grew the answer's text, kept for its closing events and its
conversation item, without end. The server counts what the answer says and ends it
itself past a generous number of characters per token asked, or past the
``answer_chars`` limit; the answer then ends ``incomplete``, reason
``max_output_tokens``, as the Realtime API ends one its cap stopped (Chat
Completions: ``finish_reason: "length"``).
"""

from __future__ import annotations

CHARS_PER_TOKEN = 32
"""Generous: tokens average about 4 characters in English and rarely pass 16."""
REASON = "max_output_tokens"
"""The Realtime API's ``status_details.reason`` for an answer its cap stopped."""


class AnswerCap:
    """Counts an answer's characters (text and tool-call arguments) against its cap."""

    def __init__(self, max_output_tokens: int | None, max_chars: int) -> None:
        by_tokens = max_output_tokens * CHARS_PER_TOKEN if max_output_tokens else max_chars
        self.max_chars = min(max_chars, by_tokens)
        self.said = 0
        self.reached = False

    def take(self, text: str) -> str:
        """The part of ``text`` that still fits; marks the cap reached when it did not all."""
        room = self.max_chars - self.said
        if len(text) > room:
            self.reached = True
            text = text[: max(room, 0)]
        self.said += len(text)
        return text
