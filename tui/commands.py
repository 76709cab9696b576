"""Every talkterm action in the command palette (ctrl+p), offered only when it applies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

# Actions with no key of their own: (title, help, action).
PALETTE_ONLY = [
    (
        "Export conversation",
        "Save this conversation as Markdown in the current folder",
        "export_chat",
    ),
]


def applicable_commands(app: App[object]) -> list[tuple[str, str, str]]:
    """(title, help, action) of every described app binding whose action applies now."""
    keys = {
        active.binding.action: app.get_key_display(active.binding)
        for active in app.screen_stack[0].active_bindings.values()
    }
    commands = []
    for binding in Binding.make_bindings(app.BINDINGS):
        if binding.description and app.check_action(binding.action, ()) is True:
            key = keys.get(binding.action, binding.key)
            commands.append((binding.description, f"{binding.tooltip} ({key})", binding.action))
    commands += [c for c in PALETTE_ONLY if app.check_action(c[2], ()) is True]
    return commands


class TalktermCommands(Provider):
    """Offers Send, Pause, Resume, Stop, the voice toggle, conversations and Quit, as they apply."""

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
