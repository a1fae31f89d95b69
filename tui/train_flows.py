"""The training screen's state machine: phases, thread workers and the dialog flows.

`TrainScreen` adds the layout, the bindings and the message handlers on top. The flows
(stop-N-show, save, quit) are async workers so the screen keeps handling messages while a
dialog waits for its answer; the engine runs in thread workers (`training_worker`).
"""

from __future__ import annotations

import threading
from typing import Literal

from textual import work
from textual.widgets import Button, Checkbox
from textual.worker import Worker, WorkerCancelled, WorkerFailed, get_current_worker

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.trainer import SampleShown, Trainer
from neuralpatch.engine.training_files import PatchInfo, SavedFiles
from neuralpatch.engine.training_plan import TrainingOptions
from neuralpatch.engine.trigger_suggestion import TriggerSuggestion
from neuralpatch.tui.dialogs import InferenceDialog
from neuralpatch.tui.halfblock import Palette
from neuralpatch.tui.held_notices import HeldNotices
from neuralpatch.tui.params_pane import ParamsPane
from neuralpatch.tui.status_bar import StatusBar
from neuralpatch.tui.training_worker import (
    EXPECTED_ERRORS,
    TrainingLoop,
    add_suggested_triggers,
    build_trainer,
    save_now,
)
from neuralpatch.tui.validation_dialog import (
    ValidationDialog,
    ValidationResults,
    validation_results,
)

Phase = Literal["idle", "setting-up", "confirming", "running", "paused", "showing", "saving"]
BUTTON_LABELS = {"running": "Pause", "paused": "Resume"}


class TrainingFlows(HeldNotices):
    """Holds the trainer, its loop and workers; runs the flows that pause, save and quit."""

    def __init__(
        self,
        options: TrainingOptions,
        base: BaseNetwork | None = None,
        palette: Palette | None = None,
    ) -> None:
        super().__init__()
        self.options, self.palette = options, palette
        self.bases: dict[str, BaseNetwork] = {options.base: base} if base else {}
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
        self._setup_abort = threading.Event()  # quitting interrupts feature extraction
        self.suggestion: TriggerSuggestion | None = None  # offered by the reconfigure dialog
        self.setup_progress = ""  # the set-up stage under way, for `setup_notice`

    @property
    def pane(self) -> ParamsPane:
        return self.query_one(ParamsPane)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def output_names(self) -> list[str]:
        return [printable(c.name) for c in self.trainer.outputs] if self.trainer else []

    def _set_phase(self, phase: Phase, status: str | None = None) -> None:
        self.phase = phase
        button = self.query_one("#train", Button)
        button.label = BUTTON_LABELS.get(phase, "Train")
        button.disabled = phase not in ("idle", "running", "paused")
        if status is not None:
            self.status.show_report(state=status)
        self.refresh_bindings()

    def setup_notice(self) -> str:
        """What ^t says while the base network loads or features are extracted."""
        doing = self.setup_progress or "loading the base network and the data"
        then = (
            "then training resumes by itself"
            if self.options.resume
            else "then the output layer dialog opens: y there starts training"
        )
        return (
            f"{doing[:1].upper()}{doing[1:]}. Training needs every photo's features first "
            f"(they are cached, so the next start is instant); {then}."
        )

    # -- workers -------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="setup")
    def _set_up(self, options: TrainingOptions) -> None:
        self._setup_abort.clear()
        build_trainer(options, self.bases, self.post_message, self._setup_abort.is_set)

    @work(thread=True, exclusive=True, group="train")
    def _train(self) -> None:
        worker = get_current_worker()
        assert self.loop is not None
        self.loop.run(lambda: worker.is_cancelled)

    @work(thread=True, group="save")
    def _save_worker(self, form: TrainingOptions) -> tuple[SavedFiles | None, str | None]:
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
    def _answer_reconfigure(self, answer: str | None) -> None:
        if answer == "yes":
            self._start_training()
            return
        trainer, suggestion = self.trainer, self.suggestion
        self.trainer = self.info = self.loop = self.suggestion = None
        self.pane.lock_network_fields(False)
        self._set_phase("idle", "ready")
        if answer == "suggest" and trainer is not None and suggestion is not None:
            try:
                done = add_suggested_triggers(suggestion, trainer)
            except EXPECTED_ERRORS as exc:
                self.notify(str(exc), title="Triggers not added", severity="error")
                return
            self.notify(done, title="Triggers added", timeout=10)
            self.action_train()  # the same set-up again, on the new map (features cached)

    def _show_inference(self, sample: SampleShown) -> None:
        self._set_phase("showing", "stopped")
        self._inference_flow(sample)

    @work(group="inference")
    async def _inference_flow(self, sample: SampleShown) -> None:
        """The stop-N-show dialog until it is answered No; Yes saves and shows it again."""
        names = self.output_names
        checkbox = self.query_one("#stop_n_show", Checkbox)
        saved, error = None, None
        results = self.validation_results()
        lens = results.lens if results is not None else None
        while True:
            choice = await self.app.push_screen_wait(
                InferenceDialog(
                    sample, names, checkbox.value, saved, error, self.palette, lens, results
                )
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

    def validation_results(self) -> ValidationResults | None:
        """The validation split as `eval --split val` scores it now (None before training)."""
        if self.trainer is None or self.loop is None or not self.loop.prepared:
            return None
        name = self.pane.value("name") or (self.info.name if self.info else "patch")
        return validation_results(self.trainer, name)

    @work(group="validation-flow")
    async def _validation_flow(self) -> None:
        """^o: training waits while the validation results (and the photos) are looked at."""
        was_running = self.phase == "running"
        self._set_phase("showing", "stopped")
        await self._pause_and_wait()
        results = self.validation_results()
        if results is None:
            self.notify("No validation photos to score.", severity="warning")
        else:
            await self.app.push_screen_wait(ValidationDialog(results, self.palette))
        if self.quitting:
            return
        self._set_phase("paused", "paused")
        if was_running:
            self._start_training()

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
            self._setup_abort.set()
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
