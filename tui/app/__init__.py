"""The App and its parts: ``Talkterm`` (``talkterm.py``), built by ``make_app``.

The app is put together from *App parts*: ``OutputMode``, ``CopyActions``,
``ChatActions`` and ``SettingsActions`` are ``App[None]`` subclasses, each one
concern's actions and message handlers, that declare as class annotations the few
attributes of the app they use (``link``, ``chats``, ``preferences``…) and never
import ``Talkterm``; ``Talkterm`` inherits them all and owns those attributes. The
parts' helpers are plain classes handed only what they touch (``SettingsKeeper``
takes an ``App``, the stored preferences and the link; ``ChatLog`` a path and a
warning callback). ``answer.py`` is one answer's life; ``commands.py`` and
``settings_commands.py`` are the palette's providers.
"""

from __future__ import annotations

from tui.app.talkterm import Talkterm, make_app

__all__ = ["Talkterm", "make_app"]
