"""The TLS context the app's links use for ``wss://`` and ``https://``, and the CA-file check.

The system's trust store by default (OpenSSL also honours ``SSL_CERT_FILE``); a CA file
(``--ca-file``) is trusted as well, for a server behind a self-signed certificate. There
is deliberately no switch that turns verification off. A ground-floor module: the
settings check ``--ca-file`` with it at start, the link builds its one context with it.
"""

from __future__ import annotations

import ssl
from pathlib import Path


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A verifying client context: the default trust store, plus ``ca_file`` if given.

    Raises ValueError, in plain words, for a CA file that is missing or not PEM.
    """
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise ValueError(f"cannot use {ca_file} as a CA file: {reason}") from None
    return context
