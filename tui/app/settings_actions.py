"""The app's side of its settings: the key, what the server offers, what each session is told.

``SettingsActions`` holds the ``SettingsKeeper`` and reacts to the link: every new
session (a first connection, a session the server lost, another conversation opened)
is told the chosen settings, and ``session.created``/``session.updated`` say which
models and voices the server offers. A resumed session kept its settings.
"""

from __future__ import annotations

from textual.app import App

from tui.app.settings_keeper import SettingsKeeper
from tui.link import Link, send_all
from tui.link.websocket import Connection


class SettingsActions(App[None]):
    """Settings that follow the person: chosen once, sent to every session."""

    preferences: SettingsKeeper
    link: Link

    def settings_for_session(self, message: Connection.SessionStarted) -> None:
        """A new session: keep the models and voices it lists, tell it the chosen settings."""
        self.preferences.learn(message.models, message.voices, message.languages)
        send_all(self.link, self.preferences.session_events())

    def on_connection_session_updated(self, message: Connection.SessionUpdated) -> None:
        """The server may list its models, voices and voices per language anew."""
        self.preferences.learn(message.models, message.voices, message.languages)

    def action_settings(self, field: str = "") -> None:
        """Open the settings screen (on one field, from the palette)."""
        self.preferences.open(field or None)
