"""Teach mode from the training screen: the live label-and-learn loop on the dataset being
trained, starting from the current weights.

`^l` asks where frames come from (a camera number, a video file or a folder of photos),
pauses training, saves it when it has unsaved steps (teach mode resumes from that snapshot,
as it does from the camera screen), and pushes the teach screen; leaving it (`q` or `^q`)
comes back to the training screen, paused, instead of ending the app.
"""

from __future__ import annotations

import asyncio

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.teach_config import TeachConfig
from neuralpatch.tui.dialogs import QuitDialog
from neuralpatch.tui.teach_messages import SaveFinished
from neuralpatch.tui.teach_screen import TeachScreen

DEFAULT_SOURCE = "0"


class TeachSourceDialog(ModalScreen[str | None]):
    """Where teach mode takes its frames from; Enter gives it, Escape gives None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, dataset: str, resume: str | None) -> None:
        super().__init__()
        self.dataset, self.resume = dataset, resume

    def compose(self) -> ComposeResult:
        start = (
            f"from the current weights (saved as {printable(self.resume)})"
            if self.resume
            else "from fresh weights (nothing trained yet)"
        )
        with Vertical(classes="dialog", id="teach-source"):
            yield Label("Teach mode", classes="dialog-title")
            yield Static(
                f"Label live frames into {printable(self.dataset)} and train on them at once, "
                f"{start}. Frames from: a camera number, a video file or a folder of photos.",
                id="teach-source-text",
                markup=False,
            )
            yield Input(DEFAULT_SOURCE, placeholder="0, video.mp4 or a folder", id="teach-from")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        source = event.value.strip()
        if source:
            self.dismiss(source)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TrainingTeachScreen(TeachScreen):
    """The teach screen over the training screen: `q` goes back to training."""

    BINDINGS = [Binding("q", "quit", "Back to training")]

    @work(exclusive=True, group="teach-dialog")
    async def action_quit(self) -> None:
        session = self.session
        if session is not None and session.unsaved:
            answer = await self.app.push_screen_wait(QuitDialog(session.trainer.step))
            if answer is None:
                return
            if answer == "save":
                self._save(then_quit=True)
                return
        self.dismiss()

    def on_save_finished(self, message: SaveFinished) -> None:
        back, message.then_quit = message.then_quit, False
        super().on_save_finished(message)
        if back:
            self.dismiss()


@work(group="teach-flow")
async def teach_flow(screen) -> None:
    """Run by `TrainScreen.action_teach`: ask the source, pause and save, push teach mode.

    `screen` is the `TrainingFlows` screen; training stays paused when teach mode ends.
    """
    from neuralpatch.tui.training_worker import load_base

    if screen.phase in ("setting-up", "confirming", "saving", "showing"):
        screen.notify("Teach mode opens once set-up or the dialog is done.", severity="warning")
        return
    form = screen.pane.form()
    if form is None:
        screen.notify("\n".join(screen.pane.problems()), title="Fix these first", severity="error")
        return
    trained = screen.trainer is not None and screen.loop is not None and screen.loop.prepared
    resume = str(screen.saved[-1].snapshot) if screen.saved and not screen.unsaved_steps else None
    shown = "the current weights (saved first)" if trained and resume is None else resume
    source = await screen.app.push_screen_wait(TeachSourceDialog(form.data, shown))
    if source is None:
        return
    if screen.phase == "running":
        screen._set_phase("saving", "pausing for teach mode")
        await screen._pause_and_wait()
        screen._set_phase("paused", "paused")
    if trained and screen.unsaved_steps:
        files, error = await screen.save()
        if files is None:
            screen.notify(printable(error), title="Teach mode not opened", severity="error")
            return
        resume = str(files.snapshot)
    base = screen.trainer.base if screen.trainer is not None else screen.bases.get(form.base)
    if base is None:
        screen.status.show_message("loading the base network for teach mode")
        base = await asyncio.to_thread(load_base, form.base or None, form.device, lambda m: None)
        screen.bases[form.base] = base
    config = TeachConfig(base, form.data, source, resume=resume, out=str(form.out_dir()))
    await screen.app.push_screen_wait(TrainingTeachScreen(config, screen.palette))
    screen.status.show_report(state="paused" if screen.trainer is not None else "ready")
    screen.notify(
        "Back from teach mode. Its labels are in the dataset and its saves in "
        f"{printable(form.out_dir())}; training here goes on from its own weights "
        "(resume from a teach snapshot with `neuralpatch train DATA --resume FILE`).",
        title="Teach mode",
        timeout=10,
    )
