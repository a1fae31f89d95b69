"""Toasts that never cover a dialog: while another screen is over this one, they wait.

Textual docks its toasts at the bottom right of the *current* screen, on a layer above
everything, so a "Saved" toast raised while stop-N-show is open (or still showing when a
dialog opens) sits on the dialog's buttons. A screen built on `HeldNotices` keeps its
notices back while a dialog is up, takes its toasts off when one opens, and shows them
(for the time they had left) once it is back on top.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual import events
from textual.notifications import SeverityLevel
from textual.screen import Screen

MIN_SHOWN_S = 3.0  # a notice brought back is shown at least this long


@dataclass
class Notice:
    message: str
    title: str
    severity: SeverityLevel
    timeout: float
    markup: bool
    until: float = 0.0  # when its toast goes, once shown


class HeldNotices(Screen[None]):
    """A screen whose `notify` waits while a dialog is open over it."""

    def __init__(self) -> None:
        super().__init__()
        self.held_notices: list[Notice] = []
        self._notices_up: list[Notice] = []

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        timeout = self.app.NOTIFICATION_TIMEOUT if timeout is None else timeout
        notice = Notice(message, title, severity, timeout, markup)
        if self.is_attached and self.app.screen is not self:
            self.held_notices.append(notice)
        else:
            self._show(notice)

    def _show(self, notice: Notice) -> None:
        notice.until = time.monotonic() + notice.timeout
        self._notices_up.append(notice)
        super().notify(
            notice.message,
            title=notice.title,
            severity=notice.severity,
            timeout=notice.timeout,
            markup=notice.markup,
        )

    def on_screen_suspend(self, event: events.ScreenSuspend) -> None:
        now = time.monotonic()
        alive = [n for n in self._notices_up if n.until > now]
        self._notices_up = []
        if alive:  # take them off the dialog; they come back with the time they had left
            # `App.notify` queues its toast as a message: clear through the same queue, so a
            # toast still on its way is cleared too.
            self.app.call_later(self.app.clear_notifications)
            for notice in alive:
                notice.timeout = max(MIN_SHOWN_S, notice.until - now)
            self.held_notices = alive + self.held_notices

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        held, self.held_notices = self.held_notices, []
        for notice in held:
            self._show(notice)
