"""The app's side of its settings: what was chosen, what the server offers, and saving it.

Choices come from the config file's ``[preferences]`` table, are sent to every new
session (after ``session.created``) and again when saved, are written back to the
config file, and are handed to whoever keeps conversations (``on_saved``), so a
conversation remembers the settings it was held with: opening it again takes them
back (``adopt``), and a new conversation starts with the last saved ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from textual.app import App

from tui.app.config_file import Value, write_table
from tui.config import config_path
from tui.languages import LanguageVoices
from tui.link import Link, send_all
from tui.preferences import Preferences
from tui.screens.settings import Chosen, SettingsScreen

log = logging.getLogger("talkterm.settings")

TABLE = "preferences"
"""The config file's table for what the settings screen saves."""
ECHO = "echo_cancellation"
"""Its key for the echo cancellation switch (a choice of this machine, not of a chat)."""


class SettingsKeeper:
    """Holds the chosen settings and the server's lists; opens the screen and saves."""

    def __init__(
        self, app: App[Any], stored: dict[str, Any], link: Link, *, echo: bool = False
    ) -> None:
        self.app, self.link = app, link
        stored = dict(stored)
        self.theme: str | None = stored.pop("theme", None)
        saved_echo = stored.pop(ECHO, None)
        self._echo_setting = echo
        # A stored choice stays stored, even when the flag or env now says the same: it is
        # the choice a later run without the flag must find.
        self._echo_kept = isinstance(saved_echo, bool)
        self.echo = saved_echo if isinstance(saved_echo, bool) else echo
        """Whether echo cancellation is on (the screen's saved choice, else the setting)."""
        try:
            self.current = Preferences.from_dict(stored)
        except ValueError as exc:
            log.warning("ignored the config file's [preferences]: %s", exc)
            self.current = Preferences()
        self.saved = self.current
        """The last saved choice: what a new conversation starts with."""
        self.models: list[str] | None = None
        self.voices: list[str] | None = None
        self.languages: dict[str, LanguageVoices] | None = None
        self.on_saved: list[Callable[[Preferences], Any]] = []
        """Called with every saved choice (the conversation store keeps it per conversation)."""

    def mount(self) -> None:
        """Apply the saved theme (unknown names are ignored) and keep later changes of it."""
        if self.theme and self.theme in self.app.available_themes:
            self.app.theme = self.theme
        self.app.theme_changed_signal.subscribe(self.app, lambda new: self._keep_theme(new.name))

    def learn(
        self,
        models: list[str] | None,
        voices: list[str] | None,
        languages: dict[str, LanguageVoices] | None = None,
    ) -> None:
        """What the server offers (an update that does not say keeps what we knew)."""
        self.models = models if models is not None else self.models
        self.voices = voices if voices is not None else self.voices
        self.languages = languages if languages is not None else self.languages

    def session_events(self, cleared: Iterable[str] = ()) -> list[dict[str, Any]]:
        """What a session must be told: the chosen settings (and the languages no longer
        chosen, back to automatic), if any."""
        update = self.current.session_update(cleared)
        return [update] if update is not None else []

    def use(self, preferences: Preferences) -> None:
        """Answer with ``preferences`` from the next session on (an opened conversation's)."""
        self.current = preferences

    def adopt(self, stored: dict[str, Any] | None) -> None:
        """Take a conversation's stored settings; none stored: the last saved ones."""
        try:
            self.use(Preferences.from_dict(stored) if stored else self.saved)
        except ValueError as exc:
            log.warning("ignored a conversation's stored settings: %s", exc)
            self.use(self.saved)

    def open(self, focus: str | None = None) -> None:
        """Show the settings screen, on the field ``focus`` if given."""
        if isinstance(self.app.screen, SettingsScreen):
            return  # the key again, over the screen it opened
        screen = SettingsScreen(
            self.current,
            theme=self.app.theme,
            themes=sorted(self.app.available_themes),
            models=self.models,
            voices=self.voices,
            languages=self.languages,
            focus=focus,
            echo=self.echo,
        )
        self.app.push_screen(screen, self._saved)

    def _saved(self, chosen: Chosen | None) -> None:
        if chosen is None:
            return
        before = set(self.current.language_voices or {})
        self.current = self.saved = chosen.preferences
        self._echo_kept = self._echo_kept or chosen.echo != self.echo
        self.echo = chosen.echo
        self.app.theme = chosen.theme  # saved by _keep_theme
        self._write()
        if self.link.connected:
            cleared = before - set(self.current.language_voices or {})
            send_all(self.link, self.session_events(cleared))
            self.app.notify("Saved. The next answer uses these settings.", timeout=3)
        else:
            self.app.notify("Saved. They apply once the server is connected.", timeout=4)
        for hook in self.on_saved:
            hook(self.current)

    def _keep_theme(self, name: str) -> None:
        if name != self.theme:
            self.theme = name
            self._write()

    def _write(self) -> None:
        values: dict[str, Value] = dict(self.current.to_dict())
        if self.theme:
            values["theme"] = self.theme
        if self._echo_kept or self.echo != self._echo_setting:  # never chosen: the flag's
            values[ECHO] = self.echo
        try:
            write_table(config_path(), TABLE, values)
        except (OSError, ValueError) as exc:
            log.warning("could not save settings", exc_info=True)
            self.app.notify(f"Settings not saved: {exc}", severity="error", timeout=8)
