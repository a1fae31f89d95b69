"""The training app: `neuralpatch train DATA` without `--headless`.

`make_train_app()` builds it the same way for the command line and the tests (which pass
the base network they already loaded, and a fixed palette for snapshots) from the engine's
typed `TrainingOptions`.
"""

from __future__ import annotations

import asyncio
import signal
import threading

from textual import work
from textual.binding import Binding
from textual.screen import ModalScreen

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.training_files import SavedFiles
from neuralpatch.engine.training_plan import TrainingOptions
from neuralpatch.tui.app_shell import AppShell, run_in_terminal
from neuralpatch.tui.dialogs import QuitDialog
from neuralpatch.tui.halfblock import Palette, detect_palette, palette_notice
from neuralpatch.tui.train_screen import TrainScreen
from neuralpatch.tui.train_teach import TrainingTeachScreen

STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM)  # Ctrl-C is a key inside the app


class TrainApp(AppShell):
    """Hosts the training screen; quitting asks about unsaved training and stops it cleanly.

    SIGHUP (the terminal or SSH session went away) and SIGTERM (a service stop) save the
    unsaved steps and exit without asking: nobody is left to answer a dialog.
    """

    TITLE = "Neuralpatch training"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, screen: TrainScreen) -> None:
        super().__init__(screen)
        self.train_screen = screen

    def on_mount(self) -> None:  # AppShell.on_mount runs too (Textual walks the MRO)
        if threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for sig in STOP_SIGNALS:
                loop.add_signal_handler(sig, self.on_stop_signal, sig)

    def on_unmount(self) -> None:
        if threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    def on_stop_signal(self, sig: signal.Signals) -> None:
        self.train_screen.quitting = True
        self._save_and_quit()

    @work(group="quit", exclusive=True)  # replaces a quit flow waiting for an answer
    async def _save_and_quit(self) -> None:
        """Stop the workers, save the unsaved steps, exit."""
        while isinstance(self.screen, ModalScreen):
            await self.screen.dismiss(None)
        screen = self.train_screen
        await screen.stop_workers()
        if screen.unsaved_steps:
            await screen.save()
        self.exit(0)

    def action_quit(self) -> None:
        if isinstance(self.screen, TrainingTeachScreen):  # first leave teach mode, saving it
            self.screen.action_quit()
            return
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


def make_train_app(
    options: TrainingOptions, base: BaseNetwork | None = None, palette: Palette | None = None
) -> TrainApp:
    """The app for a run's options.

    `base`: an already loaded base network for `options.base` (else loaded when training
    starts). `palette`: image palette (default: detected from
    the terminal, with a notice when it falls back to 256 or 16 colours).
    """
    app = TrainApp(TrainScreen(options, base, palette or detect_palette()))
    if palette is None:
        app.palette_notice = palette_notice(detect_palette())
    return app


def run_train_app(options: TrainingOptions) -> tuple[int, list[SavedFiles]]:
    """Run the app in this terminal; returns the exit code and every save of the session
    (for the command line to print once the screen is gone, into the scrollback)."""
    app = make_train_app(options)
    code = run_in_terminal(app, "train.log")
    return code, app.train_screen.saved
