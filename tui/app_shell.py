"""The shell both Textual apps share: one stylesheet, one main screen, quiet library output.

`TrainApp` and `CameraApp` differ only in their screen and in how they quit; building and
running them (`run_in_terminal`) is the same for both.
"""

from __future__ import annotations

from textual.app import App
from textual.screen import Screen

from neuralpatch.tui.quiet_output import app_log_path, quiet_output


class AppShell(App[int]):
    """Pushes `main_screen` on mount; subclasses bind ^q to their own quit flow."""

    CSS_PATH = "neuralpatch.tcss"
    ENABLE_COMMAND_PALETTE = False
    palette_notice: str | None = None  # said once on screen when images lose colours

    def __init__(self, main_screen: Screen) -> None:
        super().__init__()
        self.main_screen = main_screen

    def on_mount(self) -> None:
        self.push_screen(self.main_screen)
        if self.palette_notice:
            self.notify(self.palette_notice, title="Colours", timeout=8)


def run_in_terminal(app: AppShell, log_name: str) -> int:
    """Run `app` in this terminal with library output sent to the log file `log_name`."""
    with quiet_output(app_log_path(log_name)):
        code = app.run()
    return code or 0
