"""The app's keys: one table with stable ids (the config keymap moves them), and how each is shown.

At the bottom of the app's layers: the widgets name keys in their hints, the app binds
them, the palette lists them.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.binding import Binding


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
    key(
        "f4",
        "talk",
        "Talk",
        "Talk instead of typing: the pause after you speak sends it; f4 or Enter sends at once, "
        "Esc cancels",
    ),
    key("f5", "pause_resume", "Pause", "Pause, or resume when paused", id="pause_resume"),
    key("ctrl+o", "pause", "Pause", "Pause speech and text at once", show=False),
    key("ctrl+r", "resume", "Resume", "Carry on from the word where you paused", show=False),
    # Not in the footer since f4 (Talk) took its place at 80 columns; the palette lists it.
    key(
        "f2",
        "copy_answer",
        "Copy",
        "Copy the selected text, else the last answer (OSC 52)",
        show=False,
    ),
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
