"""The training app: `neuralpatch train DATA` without `--headless`.

`make_train_app()` builds it the same way for the command line and the tests (which pass
the base network they already loaded, and a fixed palette for snapshots).
"""

from __future__ import annotations

import argparse

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.training_files import resume_from
from neuralpatch.tui.dialogs import QuitDialog
from neuralpatch.tui.halfblock import Palette, detect_palette, palette_notice
from neuralpatch.tui.quiet_output import app_log_path, quiet_output
from neuralpatch.tui.train_screen import TrainScreen


class TrainApp(App[int]):
    """Hosts the training screen; quitting asks about unsaved training and stops it cleanly."""

    CSS_PATH = "neuralpatch.tcss"
    TITLE = "Neuralpatch training"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(
        self,
        args: argparse.Namespace,
        base: BaseNetwork | None = None,
        palette: Palette | None = None,
    ) -> None:
        super().__init__()
        self.train_screen = TrainScreen(args, base, palette)

    palette_notice: str | None = None  # said once on screen when images lose colours

    def on_mount(self) -> None:
        self.push_screen(self.train_screen)
        if self.palette_notice:
            self.notify(self.palette_notice, title="Colours", timeout=8)

    def action_quit(self) -> None:
        if not self.train_screen.quitting:  # one quit flow at a time
            self.train_screen.quitting = True
            self._quit()

    @work(group="quit")
    async def _quit(self) -> None:
        """Ask whether to save unsaved training, stop the workers cleanly, then exit."""
        while isinstance(self.screen, ModalScreen):  # e.g. stop-N-show: answered "quit"
            await self.screen.dismiss(None)
        screen = self.train_screen
        was_running = await screen.stop_workers()
        if screen.unsaved_steps:
            answer = await self.push_screen_wait(QuitDialog(screen.unsaved_steps))
            if answer == "save" and (await screen.save())[0] is None:
                answer = None  # not saved: stay, the error is on screen
            if answer is None:
                screen.carry_on(was_running)
                return
        self.exit(0)


def with_resumed_values(args: argparse.Namespace) -> argparse.Namespace:
    """Options not given on the command line take the resumed snapshot's values.

    The pane shows what training will use, so it must show the snapshot's rates rather
    than the defaults when resuming.
    """
    if not args.resume:
        return args
    hyper = resume_from(args.resume).params
    values = vars(args) | {
        key: getattr(hyper, key)
        for key in ("batch_size", "lr", "momentum", "decay")
        if getattr(args, key) is None
    }
    values["augment"] = bool(args.augment or hyper.augment)
    return argparse.Namespace(**values)


def make_train_app(
    args: argparse.Namespace, base: BaseNetwork | None = None, palette: Palette | None = None
) -> TrainApp:
    """The app for parsed `neuralpatch train` options.

    `base`: an already loaded base network for the `--base` in `args` (else loaded when
    training starts). `palette`: image palette (default: detected from the terminal, with a notice
    when it falls back to 256 or 16 colours).
    """
    app = TrainApp(with_resumed_values(args), base, palette or detect_palette())
    if palette is None:
        app.palette_notice = palette_notice(detect_palette())
    return app


def run_train_app(args: argparse.Namespace) -> int:
    """Run the app in this terminal; returns the exit code.

    What was saved is printed once the screen is gone, so the paths stay in the scrollback.
    """
    app = make_train_app(args)
    with quiet_output(app_log_path()):
        code = app.run()
    for files in app.train_screen.saved:
        print(f"snapshot  {files.snapshot}\npatch     {files.patch}")
    return code or 0
