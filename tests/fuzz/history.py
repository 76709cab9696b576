"""The fuzzed session's history as the model sees it: which items the bounds may have dropped.

docs/protocol.md (Limits): history keeps the newest 1 Mi characters / 1,000 items;
over a bound the oldest items go first, but never the newest user item
(server/session/conversation.py). So a ``conversation.item.truncate`` of an item
dropped by a later big item gets ``item_not_found``, and an id whose item was
dropped may be used again.

Some of it the model cannot know exactly: a response's assistant item exists
only if its ``response.create`` met no active response, and its text grows
while it streams; a truncated item shrinks. So each item has a range of lengths
and may be only *maybe* there, and after each trim an item is kept, gone, or
maybe gone. Both bounds err on the side of "maybe": the model then allows both
answers instead of demanding a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ItemInfo:
    """What truncation needs to know about a conversation item."""

    assistant_audio: bool
    audio_ms: float = 0.0


@dataclass
class Entry:
    """One item the session may hold, with the range its text length may have."""

    item_id: str | None
    role: str
    info: ItemInfo
    shortest: int
    longest: int
    surely_added: bool = True
    maybe_gone: bool = False
    gone: bool = False

    @property
    def surely_here(self) -> bool:
        """Added for sure and dropped by no trim that may have happened."""
        return self.surely_added and not self.maybe_gone and not self.gone


@dataclass
class History:
    """The items of one session, oldest first, trimmed as the server trims them."""

    max_chars: int
    max_items: int
    entries: list[Entry] = field(default_factory=list)

    def add(self, entry: Entry) -> None:
        """Append an item (the server trims right after every addition)."""
        self.entries.append(entry)
        self._trim()

    def find(self, item_id: str) -> list[Entry]:
        """The items with this id that may still be there."""
        return [e for e in self.entries if e.item_id == item_id and not e.gone]

    def _trim(self) -> None:
        live = [e for e in self.entries if not e.gone]
        for at, entry in enumerate(live):
            newer = live[at:]
            if self._may_drop(entry, newer, live[:at]):
                entry.maybe_gone = True
            if self._must_drop(entry, newer):
                entry.gone = True

    def _may_drop(self, entry: Entry, newer: list[Entry], older: list[Entry]) -> bool:
        """Dropped when everything that may be there is there at its longest."""
        if entry.role == "user" and not any(e.role == "user" for e in newer[1:]):
            return False  # the newest user item in every case
        # The kept newest user item may be older than ``entry`` and still counts.
        kept = max((e.longest for e in older if e.role == "user"), default=0)
        chars = sum(e.longest for e in newer) + kept
        return self._over(chars, len(newer) + 1)

    def _must_drop(self, entry: Entry, newer: list[Entry]) -> bool:
        """Dropped even when only what is surely there is, at its shortest."""
        if entry.role == "user" and not any(e.role == "user" and e.surely_here for e in newer[1:]):
            return False  # may be the newest user item, which stays
        sure = [entry, *(e for e in newer[1:] if e.surely_here)]
        return self._over(sum(e.shortest for e in sure), len(sure))

    def _over(self, chars: int, count: int) -> bool:
        return chars > self.max_chars or count > self.max_items
