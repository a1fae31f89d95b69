"""The camera app: `neuralpatch camera` without `--headless`.

`make_camera_app()` builds it the same way for the command line and the tests from a
`CameraConfig` (the command line loads the base network and fills it in).
"""

from __future__ import annotations

from textual.binding import Binding

from neuralpatch.engine.camera_config import CameraConfig
from neuralpatch.tui.app_shell import AppShell, run_in_terminal
from neuralpatch.tui.camera_screen import CameraScreen
from neuralpatch.tui.halfblock import Palette, detect_palette, palette_notice


class CameraApp(AppShell):
    """Hosts the live testing screen; quitting stops the loop and the watcher first."""

    TITLE = "Neuralpatch camera"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True, show=False)]

    def __init__(self, screen: CameraScreen) -> None:
        super().__init__(screen)
        self.camera_screen = screen

    async def action_quit(self) -> None:
        self.camera_screen.shutdown()
        self.exit(0)


def make_camera_app(config: CameraConfig, palette: Palette | None = None) -> CameraApp:
    """The app for a camera run. `palette`: image palette (default: detected from
    the terminal, with a notice when it falls back to 256 or 16 colours)."""
    app = CameraApp(CameraScreen(config, palette or detect_palette()))
    if palette is None:
        app.palette_notice = palette_notice(detect_palette())
    return app


def run_camera_app(config: CameraConfig) -> int:
    """Run the app in this terminal; returns the exit code.

    The snapped photos are listed once the screen is gone, so they stay in the scrollback.
    """
    app = make_camera_app(config)
    code = run_in_terminal(app, "camera.log")
    for path in app.camera_screen.snapped:
        print(f"snapped   {path}")
    return code
