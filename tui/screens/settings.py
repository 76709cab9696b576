"""The settings screen: model, voice, voice per language, speaking rate, system prompt, theme,
echo cancellation.

Lists the models and voices when the server names them, and offers a text field
when it does not. Save checks the speaking rate here (the server checks the rest
and answers a bad value with an ``error`` event, which the app shows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static, Switch, TextArea

from tui.languages import LanguageVoices
from tui.preferences import SPEED_MAX, SPEED_MIN, Preferences, check_speed
from tui.screens.language_voices import LanguageVoicesField

FIELDS = ("model", "voice", "language", "speed", "instructions", "theme", "echo")
"""The fields, by id, in the order shown (a palette command may focus one)."""


@dataclass(frozen=True, slots=True)
class Chosen:
    """What Save hands back: the answer settings and the theme."""

    preferences: Preferences
    theme: str
    echo: bool = False
    """Echo cancellation: talk over an answer in hands-free mode."""


class Problem(Static):
    """Why Save did not close the screen, in plain words."""


class SettingsScreen(ModalScreen[Chosen | None]):
    """Choose how answers are made and spoken; applies from the next answer."""

    DEFAULT_CSS = """
    SettingsScreen { align: center middle; }
    SettingsScreen > VerticalScroll {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    SettingsScreen Label { margin-top: 1; color: $text-muted; }
    SettingsScreen TextArea { height: 6; }
    SettingsScreen Problem { color: $text-error; margin-top: 1; }
    SettingsScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    SettingsScreen Button { margin-left: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without saving"),
        Binding("ctrl+s", "save", "Save", tooltip="Save; applies from the next answer"),
    ]

    def __init__(
        self,
        current: Preferences,
        *,
        theme: str,
        themes: list[str],
        models: list[str] | None = None,
        voices: list[str] | None = None,
        languages: dict[str, LanguageVoices] | None = None,
        focus: str | None = None,
        echo: bool = False,
    ) -> None:
        super().__init__()
        self.echo = echo
        self.current, self.theme, self.themes = current, theme, themes
        self.models, self.voices, self.languages = models, voices, languages
        self.focus_on = focus if focus in FIELDS else "model"

    def compose(self) -> ComposeResult:
        """A label and a field per setting, the problem line, Save and Cancel."""
        with VerticalScroll() as box:
            box.border_title = "Settings — from the next answer"
            yield Label("Model")
            yield _choice("model", self.current.model, self.models, "the server's default")
            yield Label("Voice")
            yield _choice("voice", self.current.voice, self.voices, "the speech engine's default")
            yield Label("Voice per language (each sentence is read in its own language)")
            yield LanguageVoicesField(self.languages, self.current.language_voices)
            yield Label(f"Speaking rate ({SPEED_MIN}–{SPEED_MAX}, 1.0 is normal)")
            speed = "" if self.current.speed is None else f"{self.current.speed:g}"
            yield Input(speed, placeholder="1.0", id="speed")
            yield Label("System prompt (who the assistant is, how it answers)")
            yield TextArea(self.current.instructions or "", id="instructions", soft_wrap=True)
            yield Label("Theme")
            options = [(name, name) for name in self.themes]
            yield Select(options, value=self.theme, allow_blank=False, id="theme")
            yield Label("Echo cancellation (hands-free: talk over an answer to stop it)")
            yield Switch(self.echo, id="echo")
            yield Problem(id="problem")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Save", variant="primary", id="save")

    def on_mount(self) -> None:
        """Start on the field asked for (the first, when the server offers no such list)."""
        asked = self.query(f"#{self.focus_on}")
        (asked.first() if asked else self.query_one("#model")).focus()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Check the values; close with them, or say what is wrong."""
        try:
            chosen = self._read()
        except ValueError as exc:
            self.query_one(Problem).update(str(exc))
            self.query_one("#speed").focus()
            return
        self.dismiss(chosen)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without changing anything."""
        self.dismiss(None)

    def _read(self) -> Chosen:
        speed = self.query_one("#speed", Input).value.strip()
        instructions = self.query_one("#instructions", TextArea).text.strip()
        theme = self.query_one("#theme", Select).value
        preferences = Preferences(
            model=_value(self.query_one("#model")),
            voice=_value(self.query_one("#voice")),
            speed=check_speed(speed) if speed else None,
            instructions=instructions or None,
            language_voices=self.query_one(LanguageVoicesField).value,
        )
        echo = self.query_one("#echo", Switch).value
        return Chosen(preferences, theme if isinstance(theme, str) else self.theme, echo)


def _choice(name: str, value: str | None, listed: list[str] | None, default: str) -> Widget:
    """A Select of what the server listed (keeping a choice it no longer lists), else an Input."""
    if listed is None:
        return Input(value or "", placeholder=default, id=name)
    names = [*listed, value] if value and value not in listed else listed
    options = [(item, item) for item in names]
    select: Select[str] = Select(options, prompt=default, id=name, value=value or Select.NULL)
    return select


def _value(field: Any) -> str | None:
    """A field's text or selection; None when empty (the server's default)."""
    if isinstance(field, Select):
        return None if field.is_blank() else str(field.value)
    text = str(field.value).strip()
    return text or None
