"""The training screen: parameters, image feed, loss log and status line.

The engine runs in thread workers (`training_worker`); this screen hears from it only
through the messages in `messages`, and steers it only through the events of `TrainingLoop`
and the trainer's change queue (`Trainer.request_change`). Phases, workers and the dialog
flows live in `train_flows`.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Footer

from neuralpatch.engine.hyper_params import label
from neuralpatch.engine.number_text import count
from neuralpatch.engine.safe_text import printable
from neuralpatch.tui.dialogs import ReconfigureDialog
from neuralpatch.tui.image_feed import ImageFeed
from neuralpatch.tui.loss_log import ACCURACY_STYLE, LOSS_STYLE, LossLog, LossPlot
from neuralpatch.tui.messages import (
    FeaturesExtracted,
    LossReported,
    ProgressReported,
    RatesApplied,
    SampleFed,
    SaveFailed,
    SnapshotSaved,
    TrainerBuilt,
    TrainingFailed,
    TrainingStopped,
)
from neuralpatch.tui.params_pane import ParamsPane
from neuralpatch.tui.status_bar import StatusBar
from neuralpatch.tui.train_flows import TrainingFlows
from neuralpatch.tui.train_teach import teach_flow
from neuralpatch.tui.training_worker import TrainingLoop
from neuralpatch.tui.validation_dialog import RESULTS_NOTICE


class TrainScreen(TrainingFlows):
    BINDINGS = [
        Binding("ctrl+t", "train", "Train"),
        Binding("ctrl+t", "pause", "Pause"),
        Binding("ctrl+r", "toggle('augment')", "rand-tilt-shift"),
        Binding("ctrl+n", "toggle('stop_n_show')", "stop-N-show"),
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+p", "publish", "Publish"),
        Binding("ctrl+o", "validation", "Results"),
        Binding("ctrl+l", "teach", "Teach"),
    ]

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield ParamsPane(self.options, id="params")
                yield LossLog(id="loss-log")
            with Vertical(id="right"):
                yield ImageFeed("press ^t to train", palette=self.palette, id="feed")
                yield LossPlot(id="loss-plot")
        yield StatusBar(id="status")
        yield Footer(show_command_palette=False, compact=True)  # every key fits 80 columns

    def on_mount(self) -> None:
        self.query_one("#feed").border_title = "Image feed"
        self.query_one("#loss-log").border_title = "Loss log"
        self.query_one(
            "#loss-plot"
        ).border_title = f"[{LOSS_STYLE}]━[/] loss  [{ACCURACY_STYLE}]━[/] validation end to end"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # False hides a binding (Train and Pause share ^t), None shows it greyed out.
        if action == "train":
            # During set-up ^t explains why training has not started yet (`setup_notice`).
            return self.phase != "running" and (
                self.phase in ("idle", "paused", "setting-up") or None
            )
        if action == "pause":
            return self.phase == "running"
        if action == "publish":  # shown once there is a saved patch to publish
            return bool(self.saved)
        # Nothing to save or score until the features are in and a step ran.
        ready = self.phase in ("running", "paused") and self.loop is not None and self.loop.prepared
        if action == "validation":  # hidden until then: the footer is full at 80 columns
            return ready
        if action == "save":
            return ready or None
        return True

    # -- actions -------------------------------------------------------------------------
    def action_train(self) -> None:
        if self.phase == "paused":
            self._start_training()
            return
        if self.phase == "setting-up":
            self.notify(self.setup_notice(), title="Training starts after set-up", timeout=8)
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

    def action_validation(self) -> None:
        """Per-class accuracy, the confusion matrix and the misclassified photos to open."""
        self._validation_flow()

    def action_teach(self) -> None:
        teach_flow(self)  # label live frames into this dataset, from the current weights

    def action_save(self) -> None:
        self._saving_flow = self._save_flow()

    def action_publish(self) -> None:
        """Publish this (last saved) patch into a catalogue folder: the market."""
        from neuralpatch.tui.publish_dialog import PublishDialog

        def published(result) -> None:
            if result is not None:
                state = "published" if result.new else "already listed"
                self.notify(f"{printable(result.entry.spec)} {state}", title="Market")

        self.app.push_screen(PublishDialog(self.saved[-1].patch), published)

    @on(Button.Pressed, "#train")
    def _train_pressed(self) -> None:
        if self.phase == "running":
            self.action_pause()
        elif self.phase in ("idle", "paused"):
            self.action_train()

    @on(Checkbox.Changed, "#augment")
    def _augment_changed(self, event: Checkbox.Changed) -> None:
        if self.trainer is not None:
            self.trainer.request_change(augment=event.value)

    @on(Checkbox.Changed, "#stop_n_show")
    def _stop_n_show_changed(self, event: Checkbox.Changed) -> None:
        if self.loop is not None:
            (self.loop.stop_n_show.set if event.value else self.loop.stop_n_show.clear)()
        if event.value and self.phase == "paused" and self.last_sample is not None:
            self._show_inference(self.last_sample)

    @on(ParamsPane.RateChanged)
    def _rate_changed(self, event: ParamsPane.RateChanged) -> None:
        if self.trainer is not None:
            self.trainer.request_change(**{event.field: event.value})

    # -- messages from the workers -------------------------------------------------------
    def on_progress_reported(self, message: ProgressReported) -> None:
        self.setup_progress = message.what
        self.status.show_progress(message.done, message.total, message.what)

    def on_trainer_built(self, message: TrainerBuilt) -> None:
        if self.quitting:  # built while the app was asked to quit: not worth a dialog
            return
        plan = message.plan
        trainer, self.trainer, self.info = plan.trainer, plan.trainer, plan.info
        self.bases[self.pane.value("base")] = trainer.base
        self.saved_step = trainer.state.step
        self.pane.fill_if_empty("name", printable(plan.info.name))
        self.pane.fill_if_empty("description", plan.info.description)
        trainer.request_change(**self.pane.adopt(trainer.params))  # confirmed meanwhile
        self.loop = TrainingLoop.for_plan(plan, self.post_message)
        self.suggestion = message.suggestion
        self.query_one(LossLog).add_event(
            f"{count(len(trainer.outputs))} outputs, {count(len(trainer.dataset.triggers))} "
            f"triggers, {count(len(trainer.train_samples))} train / "
            f"{count(len(trainer.val_samples))} validation images"
        )
        self._set_phase("confirming", "ready")
        for warning in plan.warnings:
            warning = printable(warning)
            self.notify(warning, title="Master patch refused", severity="warning", timeout=10)
        if plan.resumed:  # the output layer already fits: nothing to confirm
            self.query_one(LossLog).add_event(f"resuming at step {count(trainer.state.step)}")
            self.query_one(LossPlot).add_history(*trainer.state.losses.curve())
            self.status.show_report(trainer.current_report())
            self._start_training()
            return
        self.app.push_screen(
            ReconfigureDialog(
                trainer.outputs,
                [c for c in trainer.dataset.categories if c.is_trigger],
                len(trainer.base.classes),
                len(trainer.train_samples),
                len(trainer.val_samples),
                trainer.coverage,
                message.suggestion,
                plan.out_dir,
            ),
            callback=self._answer_reconfigure,
        )

    def on_features_extracted(self, message: FeaturesExtracted) -> None:
        self.status.show_report(state="training")
        self.refresh_bindings()  # Save becomes possible now
        if message.failed:
            names = printable(", ".join(path.name for path in list(message.failed)[:3]))
            self.notify(
                f"{count(len(message.failed))} photos could not be read and are left out: {names}",
                severity="warning",
                timeout=10,
            )

    def on_loss_reported(self, message: LossReported) -> None:
        self.status.show_report(message.report)
        self.query_one(LossPlot).add_report(message.report)
        self.query_one(LossLog).add_report(message.report)

    def on_rates_applied(self, message: RatesApplied) -> None:
        for field, value in message.changed.items():
            text = ("on" if value else "off") if field == "augment" else f"{value:g}"
            name = "rand-tilt-shift" if field == "augment" else label(field)
            self.query_one(LossLog).add_event(f"{name} {text} from step {count(message.step)}")

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
        log = self.query_one(LossLog)
        if self.trainer is not None:  # the last step, and validation of the weights kept
            report = self.trainer.fresh_report()
            if report is not None:
                self.status.show_report(report)
        if message.reason == "stop-n-show" and message.sample is not None:
            if self.trainer is not None:  # what `eval --split val` would say right now
                log.add_table([printable(line) for line in self.trainer.validation_lines()])
            self._show_inference(message.sample)
            return
        if message.reason in ("steps-done", "converged"):
            self.notify(RESULTS_NOTICE, title="Training stopped", timeout=10)
        if message.reason == "steps-done":
            log.add_event("ran the steps asked for")
        if message.reason == "converged" and self.trainer is not None:
            log.add_event(self.trainer.stop_reason or "stopped by itself")
        if message.reason in ("steps-done", "converged") and self.trainer is not None:
            # what `eval --split val` shows
            log.add_table([printable(line) for line in self.trainer.validation_lines()])
        self._set_phase("paused", "paused")

    def on_training_failed(self, message: TrainingFailed) -> None:
        self.notify(
            printable(message.error),
            title=f"Error in {message.stage}",
            severity="error",
            timeout=15,
        )
        self.query_one(LossLog).add_event(f"error: {printable(message.error)}")
        if self.loop is None or not self.loop.prepared:  # no usable trainer: start again
            self.trainer = self.info = self.loop = None
            self.pane.lock_network_fields(False)
            self._set_phase("idle", "ready")
        else:
            self._set_phase("paused", "paused")

    def on_snapshot_saved(self, message: SnapshotSaved) -> None:
        self.saved_step = message.step
        self.saved.append(message.files)
        if self.loop is not None:
            self.loop.saved()  # the checkpoint made way for these files
        self.refresh_bindings()  # Publish appears
        self.notify(
            f"{printable(message.files.snapshot)}\n{printable(message.files.patch)}",
            title="Saved",
            timeout=10,
        )
        self.query_one(LossLog).add_event(f"saved {printable(message.files.patch)}")

    def on_save_failed(self, message: SaveFailed) -> None:
        self.notify(printable(message.error), title="Not saved", severity="error", timeout=15)
        self.query_one(LossLog).add_event(f"not saved: {printable(message.error)}")
