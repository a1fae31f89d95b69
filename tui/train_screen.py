"""The training screen: parameters, image feed, loss log and status line.

The engine runs in thread workers (`training_worker`); this screen hears from it only
through the messages in `messages`, and steers it only through `Trainer.params` and the
events of `TrainingLoop`. Dialog flows (stop-N-show, save) are async workers so the screen
keeps handling messages while a dialog waits for its answer.
"""

from __future__ import annotations

import argparse
from typing import Literal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer
from textual.worker import Worker, WorkerCancelled, WorkerFailed, get_current_worker

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.trainer import SampleShown, Trainer
from neuralpatch.engine.training_files import PatchInfo, SavedFiles
from neuralpatch.tui.dialogs import InferenceDialog, ReconfigureDialog
from neuralpatch.tui.halfblock import Palette
from neuralpatch.tui.image_feed import ImageFeed
from neuralpatch.tui.loss_log import ACCURACY_STYLE, LOSS_STYLE, LossLog, LossPlot
from neuralpatch.tui.messages import (
    FeaturesExtracted,
    LossReported,
    ProgressReported,
    SampleFed,
    SaveFailed,
    SnapshotSaved,
    TrainerBuilt,
    TrainingFailed,
    TrainingStopped,
)
from neuralpatch.tui.params_pane import ParamsPane, TrainForm
from neuralpatch.tui.status_bar import StatusBar
from neuralpatch.tui.training_worker import TrainingLoop, build_trainer, save_now

Phase = Literal["idle", "setting-up", "confirming", "running", "paused", "showing", "saving"]
BUTTON_LABELS = {"running": "Pause", "paused": "Resume"}


class TrainScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+t", "train", "Train"),
        Binding("ctrl+t", "pause", "Pause"),
        Binding("ctrl+r", "toggle('augment')", "rand-tilt-shift"),
        Binding("ctrl+n", "toggle('stop_n_show')", "stop-N-show"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(
        self,
        args: argparse.Namespace,
        base: BaseNetwork | None = None,
        palette: Palette | None = None,
    ) -> None:
        super().__init__()
        self.args, self.palette = args, palette
        self.bases: dict[str, BaseNetwork] = {args.base or "": base} if base else {}
        self.phase: Phase = "idle"
        self.trainer: Trainer | None = None
        self.info: PatchInfo | None = None
        self.loop: TrainingLoop | None = None
        self.saved_step = 0
        self.saved: list[SavedFiles] = []  # every save of this session, printed on exit
        self.last_sample: SampleShown | None = None
        self._train_worker: Worker | None = None
        self._setup_worker: Worker | None = None
        self._saving: Worker | None = None  # the save itself
        self._saving_flow: Worker | None = None  # ^s: pause, save, carry on
        self.quitting = False  # set by the app: flows must not start training again

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield ParamsPane(self.args, id="params")
                yield LossLog(id="loss-log")
            with Vertical(id="right"):
                yield ImageFeed("press ^t to train", palette=self.palette, id="feed")
                yield LossPlot(id="loss-plot")
        yield StatusBar(id="status")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#feed").border_title = "Image feed"
        self.query_one("#loss-log").border_title = "Loss log"
        self.query_one(
            "#loss-plot"
        ).border_title = f"[{LOSS_STYLE}]━[/] loss  [{ACCURACY_STYLE}]━[/] validation accuracy"

    @property
    def pane(self) -> ParamsPane:
        return self.query_one(ParamsPane)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def output_names(self) -> list[str]:
        return [c.name for c in self.trainer.outputs] if self.trainer else []

    def _set_phase(self, phase: Phase, status: str | None = None) -> None:
        self.phase = phase
        button = self.query_one("#train", Button)
        button.label = BUTTON_LABELS.get(phase, "Train")
        button.disabled = phase not in ("idle", "running", "paused")
        if status is not None:
            self.status.show_report(state=status)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # False hides a binding (Train and Pause share ^t), None shows it greyed out.
        if action == "train":
            return self.phase != "running" and (self.phase in ("idle", "paused") or None)
        if action == "pause":
            return self.phase == "running"
        if action == "save":  # nothing to save until the features are in and a step ran
            return (
                self.phase in ("running", "paused") and self.loop is not None and self.loop.prepared
            ) or None
        return True

    # -- actions -------------------------------------------------------------------------
    def action_train(self) -> None:
        if self.phase == "paused":
            self._start_training()
            return
        form = self.pane.form()
        if form is None:
            self.notify("\n".join(self.pane.problems()), title="Fix these first", severity="error")
            return
        self.pane.lock_network_fields()
        self._set_phase("setting-up")
        self.status.show_progress(0, 0, "loading the base network and the data")
        self._setup_worker = self._set_up(form)

    def action_pause(self) -> None:
        if self.loop is not None:
            self.loop.request_pause()
            self.status.show_report(state="pausing")

    def action_toggle(self, checkbox_id: str) -> None:
        self.query_one(f"#{checkbox_id}", Checkbox).toggle()

    def action_save(self) -> None:
        self._saving_flow = self._save_flow()

    @on(Button.Pressed, "#train")
    def _train_pressed(self) -> None:
        if self.phase == "running":
            self.action_pause()
        elif self.phase in ("idle", "paused"):
            self.action_train()

    @on(Checkbox.Changed, "#augment")
    def _augment_changed(self, event: Checkbox.Changed) -> None:
        if self.trainer is not None:
            self.trainer.params.augment = event.value
            self.query_one(LossLog).add_event(f"rand-tilt-shift {'on' if event.value else 'off'}")

    @on(Checkbox.Changed, "#stop_n_show")
    def _stop_n_show_changed(self, event: Checkbox.Changed) -> None:
        if self.loop is not None:
            (self.loop.stop_n_show.set if event.value else self.loop.stop_n_show.clear)()
        if event.value and self.phase == "paused" and self.last_sample is not None:
            self._show_inference(self.last_sample)

    @on(ParamsPane.RateChanged)
    def _rate_changed(self, event: ParamsPane.RateChanged) -> None:
        if self.trainer is not None:
            setattr(self.trainer.params, event.field, event.value)
            self.query_one(LossLog).add_event(
                f"{event.field.replace('_', ' ')} {event.value:g} from step "
                f"{self.trainer.state.step + 1}"
            )

    # -- workers -------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="setup")
    def _set_up(self, form: TrainForm) -> None:
        build_trainer(self.args, form, self.bases, self.post_message)

    @work(thread=True, exclusive=True, group="train")
    def _train(self) -> None:
        worker = get_current_worker()
        assert self.loop is not None
        self.loop.run(lambda: worker.is_cancelled)

    @work(thread=True, group="save")
    def _save_worker(self, form: TrainForm) -> tuple[SavedFiles | None, str | None]:
        assert self.trainer is not None and self.info is not None
        return save_now(self.trainer, self.info, form, self.post_message)

    def _start_training(self) -> None:
        assert self.loop is not None
        if self.quitting:
            return
        self.loop.begin()
        stop_n_show = self.query_one("#stop_n_show", Checkbox).value
        (self.loop.stop_n_show.set if stop_n_show else self.loop.stop_n_show.clear)()
        self._set_phase("running", "training")
        self._train_worker = self._train()

    async def _pause_and_wait(self) -> None:
        if self.loop is not None and self._train_worker is not None:
            self.loop.request_pause()
            try:
                await self._train_worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass  # the loop posts its own failures; a cancelled worker has stopped

    async def save(self) -> tuple[SavedFiles | None, str | None]:
        """Save with the pane's current name, icon and folder: (files, None) or (None, why)."""
        form = self.pane.form()
        if form is None:
            problems = "; ".join(self.pane.problems())
            self.notify(problems, title="Not saved", severity="error")
            return None, problems
        self._saving = self._save_worker(form)
        try:
            return await self._saving.wait()
        except (WorkerCancelled, WorkerFailed) as exc:
            return None, str(exc)

    # -- dialog flows --------------------------------------------------------------------
    def _answer_reconfigure(self, yes: bool | None) -> None:
        if yes:
            self._start_training()
            return
        self.trainer = self.info = self.loop = None
        self.pane.lock_network_fields(False)
        self._set_phase("idle", "ready")

    def _show_inference(self, sample: SampleShown) -> None:
        self._set_phase("showing", "stopped")
        self._inference_flow(sample)

    @work(group="inference")
    async def _inference_flow(self, sample: SampleShown) -> None:
        """The stop-N-show dialog until it is answered No; Yes saves and shows it again."""
        names = self.output_names
        checkbox = self.query_one("#stop_n_show", Checkbox)
        saved, error = None, None
        while True:
            choice = await self.app.push_screen_wait(
                InferenceDialog(sample, names, checkbox.value, saved, error, self.palette)
            )
            if choice is None:  # closed because the app is quitting
                return
            checkbox.value = choice.stop_n_show
            if not choice.save:
                break
            self._set_phase("saving", "saving")
            saved, error = await self.save()
            if self.quitting:
                return
            self._set_phase("showing", "stopped")
        self._start_training()  # with stop-N-show still on, it stops after one step

    @work(group="save-flow")
    async def _save_flow(self) -> None:
        """^s: pause if running (a snapshot must not change while written), save, go on."""
        if self.check_action("save", ()) is not True:
            return
        was_running = self.phase == "running"
        self._set_phase("saving", "saving")
        await self._pause_and_wait()
        await self.save()
        self._set_phase("paused", "paused")
        if was_running:
            self._start_training()

    async def stop_workers(self) -> bool:
        """Pause training (abandoning feature extraction) and wait for every worker to end.

        Returns whether training was running, for `carry_on`.
        """
        was_running = self.phase == "running"
        self.quitting = True
        self.status.show_message("stopping…")
        for saving in (self._saving_flow, self._saving):
            if saving is not None and saving.is_running:
                try:  # a save under way finishes first: its steps then count as saved
                    await saving.wait()
                except (WorkerCancelled, WorkerFailed):
                    pass
        if self.loop is not None and not self.loop.prepared:
            self.loop.request_abort()  # extracting features: nothing worth keeping yet
        await self._pause_and_wait()
        if self._setup_worker is not None and self._setup_worker.is_running:
            await self._setup_worker.wait()
        return was_running

    def carry_on(self, was_running: bool) -> None:
        """Undo `stop_workers`: quitting was cancelled."""
        self.quitting = False
        if self.loop is None:
            self.pane.lock_network_fields(False)
            self._set_phase("idle", "ready")
            return
        self._set_phase("paused", "paused")
        if was_running:
            self._start_training()

    @property
    def unsaved_steps(self) -> int:
        if self.trainer is None or self.loop is None or not self.loop.prepared:
            return 0
        return self.trainer.state.step - self.saved_step

    # -- messages from the workers -------------------------------------------------------
    def on_progress_reported(self, message: ProgressReported) -> None:
        self.status.show_progress(message.done, message.total, message.what)

    def on_trainer_built(self, message: TrainerBuilt) -> None:
        if self.quitting:  # built while the app was asked to quit: not worth a dialog
            return
        trainer = self.trainer = message.trainer
        self.info = message.info
        self.bases[self.pane.value("base")] = trainer.base
        self.saved_step = trainer.state.step
        self.pane.fill_if_empty("name", message.info.name)
        self.pane.fill_if_empty("description", message.info.description)
        for field, value in self.pane.adopt(trainer.params).items():  # confirmed meanwhile
            setattr(trainer.params, field, value)
        steps = self.args.steps
        if self.args.epochs is not None:
            steps = trainer.steps_for_epochs(self.args.epochs)
        self.loop = TrainingLoop(trainer, self.post_message, steps)
        self.query_one(LossLog).add_event(
            f"{len(trainer.outputs)} outputs, {len(trainer.dataset.triggers)} triggers, "
            f"{len(trainer.train_samples)} train / {len(trainer.val_samples)} validation images"
        )
        self._set_phase("confirming", "ready")
        if message.resumed:  # the output layer already fits: nothing to confirm
            self.query_one(LossLog).add_event(f"resuming at step {trainer.state.step}")
            self._start_training()
            return
        self.app.push_screen(
            ReconfigureDialog(
                trainer.outputs,
                [c for c in trainer.dataset.categories if c.is_trigger],
                len(trainer.base.classes),
                len(trainer.train_samples),
                len(trainer.val_samples),
            ),
            callback=self._answer_reconfigure,
        )

    def on_features_extracted(self, message: FeaturesExtracted) -> None:
        self.status.show_report(state="training")
        self.refresh_bindings()  # Save becomes possible now
        if message.failed:
            names = ", ".join(path.name for path in list(message.failed)[:3])
            self.notify(
                f"{len(message.failed)} photos could not be read and are left out: {names}",
                severity="warning",
                timeout=10,
            )

    def on_loss_reported(self, message: LossReported) -> None:
        self.status.show_report(message.report)
        self.query_one(LossPlot).add_report(message.report)
        self.query_one(LossLog).add_report(message.report)

    def on_sample_fed(self, message: SampleFed) -> None:
        if self.trainer is not None:
            self.query_one(ImageFeed).show(message.sample, self.output_names)

    def on_training_stopped(self, message: TrainingStopped) -> None:
        if message.sample is not None and self.trainer is not None:
            self.last_sample = message.sample
            self.query_one(ImageFeed).show(message.sample, self.output_names)
        if self.trainer is not None and self.trainer.last_report is not None:
            self.query_one(LossLog).add_report(self.trainer.last_report, force=True)
        if self.phase != "running" or self.loop is None or message.run != self.loop.runs:
            return  # a flow (save, quit) paused it and goes on from here, or a newer run began
        if self.quitting:  # the quit flow decides what comes next
            self._set_phase("paused", "paused")
            return
        if message.reason == "stop-n-show" and message.sample is not None:
            self._show_inference(message.sample)
            return
        if message.reason == "steps-done":
            self.query_one(LossLog).add_event("ran the steps asked for")
        self._set_phase("paused", "paused")

    def on_training_failed(self, message: TrainingFailed) -> None:
        self.notify(
            str(message.error), title=f"Error in {message.stage}", severity="error", timeout=15
        )
        self.query_one(LossLog).add_event(f"error: {message.error}")
        if self.loop is None or not self.loop.prepared:  # no usable trainer: start again
            self.trainer = self.info = self.loop = None
            self.pane.lock_network_fields(False)
            self._set_phase("idle", "ready")
        else:
            self._set_phase("paused", "paused")

    def on_snapshot_saved(self, message: SnapshotSaved) -> None:
        self.saved_step = message.step
        self.saved.append(message.files)
        self.notify(f"{message.files.snapshot}\n{message.files.patch}", title="Saved", timeout=10)
        self.query_one(LossLog).add_event(f"saved {message.files.patch}")

    def on_save_failed(self, message: SaveFailed) -> None:
        self.notify(str(message.error), title="Not saved", severity="error", timeout=15)
        self.query_one(LossLog).add_event(f"not saved: {message.error}")
