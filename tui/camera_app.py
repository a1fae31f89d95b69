"""The camera app: `neuralpatch camera` without `--headless`.

`make_camera_app()` builds it the same way for the command line and the tests (which pass
the base network they already loaded, and a fixed palette for snapshots).
"""

from __future__ import annotations

import argparse

from textual.app import App
from textual.binding import Binding

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.tui.camera_screen import CameraConfig, CameraScreen
from neuralpatch.tui.halfblock import Palette, detect_palette, palette_notice
from neuralpatch.tui.quiet_output import app_log_path, quiet_output


class CameraApp(App[int]):
    """Hosts the live testing screen; quitting stops the loop and the watcher first."""

    CSS_PATH = "neuralpatch.tcss"
    TITLE = "Neuralpatch camera"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True, show=False)]

    def __init__(self, config: CameraConfig, palette: Palette | None = None) -> None:
        super().__init__()
        self.camera_screen = CameraScreen(config, palette)

    palette_notice: str | None = None  # said once on screen when images lose colours

    def on_mount(self) -> None:
        self.push_screen(self.camera_screen)
        if self.palette_notice:
            self.notify(self.palette_notice, title="Colours", timeout=8)

    async def action_quit(self) -> None:
        self.camera_screen.shutdown()
        self.exit(0)


def make_camera_app(
    args: argparse.Namespace, base: BaseNetwork | None = None, palette: Palette | None = None
) -> CameraApp:
    """The app for parsed `neuralpatch camera` options.

    `base`: an already loaded base network (else the one `--base` names is loaded here, with
    conversion progress on stderr). `palette`: image palette (default: detected from the
    terminal, with a notice when it falls back to 256 or 16 colours).
    """
    if base is None:
        from neuralpatch.commands.options import load_base

        base = load_base(args)
    config = CameraConfig(
        base=base,
        source=str(args.source),
        patches=args.patches,
        datasets=list(args.dataset or []),
        min_probability=args.min_probability,
        top_k=max(1, args.top),
        interval=args.interval,
    )
    app = CameraApp(config, palette or detect_palette())
    if palette is None:
        app.palette_notice = palette_notice(detect_palette())
    return app


def run_camera_app(args: argparse.Namespace) -> int:
    """Run the app in this terminal; returns the exit code.

    The snapped photos are listed once the screen is gone, so they stay in the scrollback.
    """
    app = make_camera_app(args)
    with quiet_output(app_log_path("camera.log")):
        code = app.run()
    for path in app.camera_screen.snapped:
        print(f"snapped   {path}")
    return code or 0
