"""Every talkterm action as a key and in the command palette (ctrl+p), offered when it applies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

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


def key(key: str, action: str, description: str, tooltip: str, *, show: bool = True) -> Binding:
    """A priority binding whose id is its action, so the config keymap can move it."""
    return Binding(key, action, description, show, id=action, priority=True, tooltip=tooltip)


APP_KEYS: list[Binding] = [
    key("ctrl+j", "start", "Send", "Send the prompt (an answer in progress is stopped first)"),
    key("ctrl+o", "pause", "Pause", "Pause speech and text at once"),
    key("ctrl+r", "resume", "Resume", "Carry on from the word where you paused"),
    key("ctrl+g", "stop", "Stop", "Stop the answer; it keeps only what you heard"),
    key("ctrl+t", "toggle_mode", "Voice/Text", "Switch between spoken and text-only answers"),
    # Not in the footer, which is full at 110 columns; the palette lists them with their keys.
    key("ctrl+n", "new_chat", "New", "Start a new conversation", show=False),
    key("ctrl+l", "conversations", "Chats", "Open, rename or delete chats", show=False),
    key("ctrl+q", "quit", "Quit", "Quit talkterm"),
    # Textual's own: ctrl+c copies in the prompt, elsewhere it says how to quit.
    Binding("ctrl+c", "help_quit", show=False, system=True),
]
"""The app's keys, in footer order; every one can be moved by the config keymap (its id)."""


def shown_keys(app: App[Any]) -> dict[str, str]:
    """How the key bound to each action is shown (after any keymap change)."""
    return {
        active.binding.action: app.get_key_display(active.binding)
        for active in app.screen_stack[0].active_bindings.values()
    }


def applicable_commands(app: App[object]) -> list[tuple[str, str, str]]:
    """(title, help, action) of every described app binding whose action applies now."""
    keys = shown_keys(app)
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
