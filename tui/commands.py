"""Every talkterm action as a key and in the command palette (ctrl+p), offered when it applies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


def key(key: str, action: str, description: str, tooltip: str) -> Binding:
    """A priority binding whose id is its action, so the config keymap can move it."""
    return Binding(key, action, description, id=action, priority=True, tooltip=tooltip)


def shown_keys(app: App[Any]) -> dict[str, str]:
    """How the key bound to each action is shown (after any keymap change)."""
    return {
        active.binding.action: app.get_key_display(active.binding)
        for active in app.screen_stack[0].active_bindings.values()
    }


def applicable_commands(app: App[object]) -> list[tuple[str, str, str]]:
    """(title, help, action) of every shown app binding whose action applies now."""
    keys = shown_keys(app)
    commands = []
    for binding in Binding.make_bindings(app.BINDINGS):
        if binding.show and app.check_action(binding.action, ()) is True:
            key = keys.get(binding.action, binding.key)
            commands.append((binding.description, f"{binding.tooltip} ({key})", binding.action))
    return commands


class TalktermCommands(Provider):
    """Offers Send, Pause, Resume, Stop, the voice toggle and Quit, as they apply."""

    async def discover(self) -> Hits:
        """Everything that applies now, before anything is typed."""
        for title, help_text, action in applicable_commands(self.app):
            yield DiscoveryHit(title, self._runner(action), help=help_text)

    async def search(self, query: str) -> Hits:
        """Fuzzy-match the typed text against the command titles."""
        matcher = self.matcher(query)
        for title, help_text, action in applicable_commands(self.app):
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), self._runner(action), help=help_text)

    def _runner(self, action: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await self.app.run_action(action)

        return run
