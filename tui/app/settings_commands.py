"""Palette commands that open the settings screen on one field.

The key's own command, *Settings*, is listed with the other keys by ``tui.app.commands``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

COMMANDS = (
    ("Choose model", "model", "Which model answers, from the next answer"),
    ("Choose voice", "voice", "Which voice speaks, from the next answer"),
    ("Voice per language", "language", "Which voice reads each language"),
    ("Speaking rate", "speed", "How fast answers are spoken (0.25–1.5)"),
    ("System prompt", "instructions", "Who the assistant is and how it answers"),
    ("Theme", "theme", "Colours of the app"),
    ("Echo cancellation", "echo", "Hands-free: talk over an answer to stop it"),
)
"""(title, field to focus, help)."""


class SettingsCommands(Provider):
    """Offers each field of the settings screen."""

    async def discover(self) -> Hits:
        """The field commands, before anything is typed."""
        for title, field, help_text in COMMANDS:
            yield DiscoveryHit(title, self._opener(field), help=help_text)

    async def search(self, query: str) -> Hits:
        """Fuzzy-match the typed text against the titles."""
        matcher = self.matcher(query)
        for title, field, help_text in COMMANDS:
            if (score := matcher.match(title)) > 0:
                yield Hit(score, matcher.highlight(title), self._opener(field), help=help_text)

    def _opener(self, field: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await self.app.run_action(f"settings({field!r})")

        return run
