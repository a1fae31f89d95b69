"""The teach app: `neuralpatch teach DATASET` without `--headless`.

`make_teach_app()` builds it the same way for the command line and the tests. A dropped
session (SIGHUP) or SIGTERM ends the app and the session is saved before the process exits.
"""

from __future__ import annotations

import signal

from textual.binding import Binding

from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.teach_config import TeachConfig
from neuralpatch.tui.app_shell import AppShell, run_in_terminal
from neuralpatch.tui.halfblock import Palette, detect_palette, palette_notice
from neuralpatch.tui.teach_screen import TeachScreen

__all__ = ["TeachApp", "TeachConfig", "make_teach_app", "run_teach_app"]


class TeachApp(AppShell):
    TITLE = "Neuralpatch teach"
    BINDINGS = [Binding("ctrl+q", "screen.quit", "Quit", priority=True, show=False)]

    def __init__(self, screen: TeachScreen) -> None:
        super().__init__(screen)
        self.teach_screen = screen
        self.ended_by: str | None = None  # the signal that ended it, if one did

    def end_on_signal(self, signum: signal.Signals) -> None:
        """Called from the signal handler: leave the app; the caller saves once it is gone."""
        self.ended_by = signum.name
        self.teach_screen.shutdown()
        self.exit(0)


def make_teach_app(config: TeachConfig, palette: Palette | None = None) -> TeachApp:
    """The app for a teach run. `palette`: image palette (default: detected, with a notice
    when it falls back to 256 or 16 colours)."""
    app = TeachApp(TeachScreen(config, palette or detect_palette()))
    if palette is None:
        app.palette_notice = palette_notice(detect_palette())
    return app


def run_teach_app(app: TeachApp) -> int:
    """Run the app in this terminal; lists what was saved once the screen is gone.

    The caller routes SIGHUP/SIGTERM to `app.end_on_signal`; a session ended that way is
    saved here, after the app has left the terminal.
    """
    code = run_in_terminal(app, "teach.log")
    screen = app.teach_screen
    session = screen.session
    if app.ended_by and session is not None and session.unsaved:
        session.close()
        saved = session.save()
        screen.saved += [saved.snapshot, saved.patch, *saved.copies]
    if app.ended_by:
        print(f"{app.ended_by}: saved the session")
    for path in screen.saved:
        print(f"saved     {printable(path)}")
    return code
