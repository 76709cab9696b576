"""A logging filter that keeps secrets out of every log line, whoever logs it.

websockets logs request headers at DEBUG, Authorization included; httpx error
text may echo a key. Scrubbing at the handler catches all of them.
"""

from __future__ import annotations

import logging
import re

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")


class SecretScrubber(logging.Filter):
    """Replaces bearer tokens and the given secret values with ``***``."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is hidden whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

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
        clean = _BEARER.sub(r"\1***", text)
        for secret in self._secrets:
            clean = clean.replace(secret, "***")
        return clean


_FORMATTER = logging.Formatter()
