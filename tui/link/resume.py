"""Where this client is in its session: enough to resume it after a dropped connection."""

from __future__ import annotations

from server import protocol as p


class ResumePoint:
    """The session id and the last event seq this client has processed."""

    def __init__(self) -> None:
        self.session_id: str | None = None
        self.last_seq = 0

    def url(self, base: str) -> str:
        """The URL to connect to: ``base``, plus a resume request once a session exists."""
        if self.session_id is None:
            return base
        separator = "&" if "?" in base else "?"
        return f"{base}{separator}{p.resume_query(self.session_id, self.last_seq)}"

    def begin(self, session_id: str, seq: int | None) -> bool:
        """A session.created arrived; return True if it replaced a session we had."""
        replaced = self.session_id is not None and self.session_id != session_id
        self.session_id, self.last_seq = session_id, seq or 0
        return replaced

    def fresh(self, seq: int | None) -> bool:
        """Whether an event is new (and note it); a replayed duplicate is not."""
        if seq is None:
            return True
        if seq <= self.last_seq:
            return False
        self.last_seq = seq
        return True
