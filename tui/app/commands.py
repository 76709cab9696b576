"""The command palette: every action (keys and palette-only ones), offered when it applies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.keys import TOGGLES, action_keys

# Actions with no key of their own: (title, help, action).
PALETTE_ONLY = [
    ("Copy last code block", "Copy the last code block of the answers (OSC 52)", "copy_code"),
    (
        "Export conversation",
        "Save this conversation as Markdown in the current folder",
        "export_chat",
    ),
    ("Status", "The whole status line: link, LLM, voice, timings, the last error", "show_status"),
]


def applicable_commands(app: App[object]) -> list[tuple[str, str, str]]:
    """(title, help, action) of every described app binding whose action applies now."""
    keys = action_keys(app)
    commands, seen = [], set(TOGGLES)
    for binding in Binding.make_bindings(app.BINDINGS):
        action = binding.action
        if action in seen or not binding.description:
            continue
        seen.add(action)
        if app.check_action(action, ()) is True:
            first, *others = keys.get(action, [binding.key])
            also = f", also {', '.join(others)}" if others else ""
            commands.append((binding.description, f"{binding.tooltip} ({first}){also}", action))
    commands += [c for c in PALETTE_ONLY if app.check_action(c[2], ()) is True]
    return commands


class TalktermCommands(Provider):
    """Offers every action of the app (keys, conversations, copy, export), as they apply."""

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
