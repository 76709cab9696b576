"""Every talkterm action as a key and in the command palette (ctrl+p), offered when it applies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

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


def key(
    key: str,
    action: str,
    description: str,
    tooltip: str,
    *,
    show: bool = True,
    priority: bool = True,
    id: str | None = None,
) -> Binding:
    """A binding with a stable id (its action unless given), so the config keymap can move it.

    Priority by default: the key works while the prompt has focus.
    """
    return Binding(
        key, action, description, show, id=id or action, priority=priority, tooltip=tooltip
    )


APP_KEYS: list[Binding] = [
    # Enter is not a priority key: it reaches the prompt after the keys typed before it,
    # and a modal screen (the palette, the chat list) keeps its own Enter.
    key(
        "enter",
        "start",
        "Send",
        "Send the prompt (an answer in progress is stopped first)",
        priority=False,
    ),
    # Escape likewise: a modal screen's own Escape closes it; idle, it does what it did before.
    key(
        "escape",
        "stop",
        "Stop",
        "Stop the answer; it keeps only what you heard",
        priority=False,
        id="stop_escape",
    ),
    key("ctrl+g", "stop", "Stop", "Stop the answer; it keeps only what you heard", show=False),
    key("f5", "pause_resume", "Pause", "Pause, or resume when paused", id="pause_resume"),
    key("ctrl+o", "pause", "Pause", "Pause speech and text at once", show=False),
    key("ctrl+r", "resume", "Resume", "Carry on from the word where you paused", show=False),
    key("f2", "copy_answer", "Copy", "Copy the selected text, else the last answer (OSC 52)"),
    key("ctrl+n", "new_chat", "New", "Start a new conversation"),
    key("ctrl+l", "conversations", "Chats", "Open, rename or delete past chats"),
    # Not in the footer, which holds eight keys at 80 columns; the palette lists them.
    key(
        "f3",
        "settings",
        "Settings",
        "Model, voice, speaking rate, system prompt and theme",
        show=False,
    ),
    key(
        "ctrl+t",
        "toggle_mode",
        "Voice/Text",
        "Switch between spoken and text-only answers",
        show=False,
    ),
    key("ctrl+q", "quit", "Quit", "Quit talkterm"),
    # Textual's own: ctrl+c copies in the prompt, elsewhere it says how to quit.
    Binding("ctrl+c", "help_quit", show=False, system=True),
]
"""The app's keys, in footer order; every one can be moved by the config keymap (its id)."""


TOGGLES = {"pause_resume": ("pause", "resume")}
"""A key for several actions: the palette lists it under each of them, not on its own."""


def action_keys(app: App[Any]) -> dict[str, list[str]]:
    """Every key bound to each action, as shown (after any keymap change); toggles last."""
    keys: dict[str, list[str]] = {}
    active = app.screen_stack[0].active_bindings.values()
    for binding in sorted((a.binding for a in active), key=lambda b: b.action in TOGGLES):
        for action in TOGGLES.get(binding.action, (binding.action,)):
            keys.setdefault(action, []).append(app.get_key_display(binding))
    return keys


def shown_keys(app: App[Any]) -> dict[str, str]:
    """How the (first) key of each binding is shown (after any keymap change), by binding id."""
    keys: dict[str, str] = {}
    for active in app.screen_stack[0].active_bindings.values():
        binding = active.binding
        keys.setdefault(binding.id or binding.action, app.get_key_display(binding))
    return keys


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
