"""The voice per language on the settings screen: pick a language, then its voice.

The server lists every language a voice is installed for (``session.talkterm.languages``)
and the voice speaking it now; the person may choose another for any of them, or leave
the server's automatic choice. Choices are kept per language until Save.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Select, Static

from tui.languages import LanguageVoices, language_name


class LanguageVoicesField(Vertical):
    """Two lists, language and its voice, and a line naming the choices made."""

    DEFAULT_CSS = """
    LanguageVoicesField { height: auto; }
    LanguageVoicesField Horizontal { height: auto; margin-top: 0; }
    LanguageVoicesField #language { width: 1fr; }
    LanguageVoicesField #language-voice { width: 1fr; }
    LanguageVoicesField Static { color: $text-muted; }
    """

    def __init__(
        self, languages: dict[str, LanguageVoices] | None, chosen: dict[str, str] | None
    ) -> None:
        super().__init__(id="language-voices")
        self.languages = languages or {}
        self.offered = languages is not None
        self.chosen = dict(chosen or {})
        order = sorted(self.languages, key=_sort_key)
        firsts = [code for code in order if code in self.chosen] + order
        self.showing = firsts[0] if firsts else ""

    @property
    def value(self) -> dict[str, str] | None:
        """The voice chosen per language (None: automatic for every one)."""
        return dict(self.chosen) or None

    def compose(self) -> ComposeResult:
        """The two lists when the server offers voices per language, else why not."""
        if not self.languages:
            yield Static(self._why_not(), id="language-summary")
            return
        with Horizontal():
            yield Select(
                self._language_options(), value=self.showing, allow_blank=False, id="language"
            )
            voice: Select[str] = Select(
                self._voice_options(self.showing),
                prompt=self._automatic(self.showing),
                value=self.chosen.get(self.showing, Select.NULL),
                id="language-voice",
            )
            yield voice
        yield Static(self._summary(), id="language-summary")

    @on(Select.Changed, "#language")
    def _language_picked(self, event: Select.Changed) -> None:
        event.stop()
        if not isinstance(event.value, str) or event.value == self.showing:
            return
        self.showing = event.value
        voice = self.query_one("#language-voice", Select)
        with voice.prevent(Select.Changed):
            voice.set_options(self._voice_options(self.showing))
            voice.prompt = self._automatic(self.showing)
            voice.value = self.chosen.get(self.showing, Select.NULL)

    @on(Select.Changed, "#language-voice")
    def _voice_picked(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str):
            self.chosen[self.showing] = event.value
        else:
            self.chosen.pop(self.showing, None)
        language = self.query_one("#language", Select)
        with language.prevent(Select.Changed):
            language.set_options(self._language_options())
            language.value = self.showing
        self.query_one("#language-summary", Static).update(self._summary())

    def _language_options(self) -> list[tuple[str, str]]:
        """Each language with the voice that will speak it."""
        return [
            (f"{_label(code)} · {self._speaking(code) or 'no voice'}", code)
            for code in sorted(self.languages, key=_sort_key)
        ]

    def _voice_options(self, code: str) -> list[tuple[str, str]]:
        entry = self.languages.get(code)
        names: Iterable[str] = entry.voices if entry is not None else ()
        chosen = self.chosen.get(code)
        listed = [*names, *([chosen] if chosen and chosen not in names else [])]
        return [(name, name) for name in listed]

    def _speaking(self, code: str) -> str | None:
        """The voice that will speak ``code`` once saved: the choice, else automatic."""
        entry = self.languages.get(code)
        return self.chosen.get(code) or (entry.automatic if entry is not None else None)

    def _automatic(self, code: str) -> str:
        entry = self.languages.get(code)
        automatic = entry.automatic if entry is not None else None
        return f"automatic ({automatic})" if automatic else "automatic"

    def _summary(self) -> str:
        if not self.chosen:
            return "Every language is spoken by the server's automatic choice."
        picks = ", ".join(f"{_label(code)} → {voice}" for code, voice in self.chosen.items())
        return f"Chosen: {picks}."

    def _why_not(self) -> str:
        kept = f" {self._summary()}" if self.chosen else ""
        if self.offered:
            return "The speech engine reads every language with any voice." + kept
        return "The server does not list voices per language." + kept


def _label(code: str) -> str:
    name = language_name(code)
    return name if name == code else f"{name} ({code})"


def _sort_key(code: str) -> tuple[bool, str]:
    """Named languages first, by name; then the rest by code."""
    name = language_name(code)
    return (name == code, name.lower())

