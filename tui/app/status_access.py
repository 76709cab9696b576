"""The status line as every part of the app reaches it, safe while the app closes."""

from __future__ import annotations

from textual.app import App

from tui.widgets.status_line import StatusLine


class StatusAccess(App[None]):
    """Gives the app's parts ``status``: the shown status line, or a detached one at exit."""

    @property
    def status(self) -> StatusLine:
        """The status line widget, or, once the app is closing and it is gone, a detached one.

        Link events still arrive while the app closes (an answer's last audio, a dropped
        link); what they would show then is seen by nobody, and must not crash the exit.
        """
        for shown in self.query(StatusLine):
            return shown
        return StatusLine(timed=False)
