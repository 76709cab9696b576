"""Keeping secrets out of text: one ``redact`` rule, and a logging filter built on it.

websockets logs request headers at DEBUG, Authorization included; httpx error
text may echo a key. Scrubbing at the handler catches all of them. The LLM and
speech clients scrub their error messages with the same ``redact``.
This module imports nothing of the server, so every layer may use it.
"""

from __future__ import annotations

import logging
import re

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")
# Upstreams echo keys masked or cut short (``sk-proj-****abcd``); a long key's first
# characters give such an echo away.
_ECHO_MIN_LENGTH = 12
_ECHO_PREFIX = 8


def redact(text: str, *secrets: str | None, mask: str = "[redacted]") -> str:
    """``text`` with each secret, and masked or cut echoes of it, replaced by ``mask``."""
    # Longest first, so a secret that contains another is hidden whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, mask)
        if len(secret) >= _ECHO_MIN_LENGTH:
            text = re.sub(re.escape(secret[:_ECHO_PREFIX]) + r"\S*", mask, text)
    return text


class SecretScrubber(logging.Filter):
    """Replaces bearer tokens and the given secret values with ``***``."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message, traceback and stack with secrets hidden; never drops it.

        A traceback is formatted here, scrubbed, and kept as ``exc_text`` (which
        formatters use as is): websockets logs a malformed header, token and all,
        inside the exception text of its failed-handshake record.
        """
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:
            record.exc_text = record.exc_text or _FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True

    def scrub(self, text: str) -> str:
        """``text`` with bearer tokens and the known secrets replaced by ``***``."""
        return redact(_BEARER.sub(r"\1***", text), *self._secrets, mask="***")


_FORMATTER = logging.Formatter()
