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
        """Rewrite the record's message with secrets hidden; never drops a record."""
        message = record.getMessage()
        clean = _BEARER.sub(r"\1***", message)
        for secret in self._secrets:
            clean = clean.replace(secret, "***")
        if clean != message:
            record.msg, record.args = clean, None
        return True
