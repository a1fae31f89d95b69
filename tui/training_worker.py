"""What the app's worker threads run: building the trainer, training, saving.

Plain functions and a class with no widgets: each reports through a `post` callable
(the screen's thread-safe `post_message`) and stops when its `threading.Event` is set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from neuralpatch.engine.base_head import BaseHead
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.checkpoints import Checkpoints
from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.number_text import fraction
from neuralpatch.engine.trainer import SampleShown, StepReport, Trainer
from neuralpatch.engine.training_files import PatchInfo, SavedFiles, read_icon, save_training
from neuralpatch.engine.training_plan import TrainingOptions, TrainingPlan, plan_training
from neuralpatch.engine.trigger_suggestion import (
    TriggerSuggestion,
    suggest_triggers,
    write_triggers,
)
from neuralpatch.tui.messages import (
    FeaturesExtracted,
    LossReported,
    ProgressReported,
    RatesApplied,
    SampleFed,
    SaveFailed,
    SnapshotSaved,
    StopReason,
    TrainerBuilt,
    TrainingFailed,
    TrainingStopped,
)

log = logging.getLogger(__name__)
Post = Callable[[Message], object]
REPORT_INTERVAL_S = 0.05  # the status line and plot need no more than 20 updates a second
# What the engine raises for bad input, plus OS errors (disk full, permissions).
EXPECTED_ERRORS = (NeuralpatchError, OSError)


def load_base(txt: str | None, device: str | None, post: Post) -> BaseNetwork:
    """Load (converting on first use) and warm up a base network, reporting progress."""
    base = BaseNetwork.load(
        txt,
        device=device,
        progress=lambda done, total, what: post(
            ProgressReported(done, total, f"converting base network weights: {what}")
        ),
    )
    post(ProgressReported(0, 0, "building OpenCL kernels"))
    base.warm_up()
    return base


def build_trainer(
    options: TrainingOptions,
    bases: dict[str, BaseNetwork],
    post: Post,
    cancelled: Callable[[], bool] = lambda: False,
) -> None:
    """Load what the options name, extract features, post `TrainerBuilt` (or
    `TrainingFailed`). Features come first so the confirmation dialog can show how many photos
    will trigger the patch (the cache makes a second set-up instant)."""
    try:
        base = bases.get(options.base) or load_base(options.base or None, options.device, post)
        plan = plan_training(options, base)
        stop = threading.Event()

        def progress(done: int, total: int, what: str) -> None:
            if cancelled():
                stop.set()
            post(ProgressReported(done, total, f"extracting features {fraction(done, total)}"))

        plan.trainer.prepare(progress, stop)
        if stop.is_set():
            return
        post(FeaturesExtracted(dict(plan.trainer.failed)))
        suggestion = suggested_triggers(plan.trainer)
    except EXPECTED_ERRORS as exc:
        post(TrainingFailed(exc, "setup"))
        return
    except Exception as exc:  # a bug must not kill the app: keep the trace in the log
        log.exception("setting up training failed")
        post(TrainingFailed(exc, "setup"))
        return
    post(TrainerBuilt(plan, suggestion))


def suggested_triggers(trainer: Trainer) -> TriggerSuggestion | None:
    """What `dataset suggest-triggers` would add (None when coverage is already fine)."""
    if trainer.coverage is None or not trainer.coverage.problems() or trainer.masters:
        return None
    return suggest_triggers(
        BaseHead.for_base(trainer.base),
        trainer.dataset,
        trainer.features,
        trainer.base.classes.tag_names(),
        top_k=trainer.trigger_top_k,
    )


def add_suggested_triggers(suggestion: TriggerSuggestion, trainer: Trainer) -> str:
    """Write the suggestion into the dataset's map (atomically); returns what was done."""
    path = write_triggers(trainer.dataset, suggestion.added)
    return f"added {len(suggestion.added)} triggers to {path}"


def save_now(
    trainer: Trainer, info: PatchInfo, form: TrainingOptions, post: Post
) -> tuple[SavedFiles | None, str | None]:
    """Write the full snapshot and the plugin with the pane's current name, icon and folder.

    Posts `SnapshotSaved` or `SaveFailed`; returns (files, None) or (None, the reason).
    """
    step = trainer.state.step
    try:
        icon = read_icon(Path(form.icon).expanduser()) if form.icon else info.icon_png
        current = PatchInfo(form.name or info.name, form.description, icon, info.min_confidence)
        out_dir = form.out_dir()
        files = save_training(trainer, current, out_dir)
    except EXPECTED_ERRORS as exc:
        post(SaveFailed(exc))
        return None, str(exc)
    post(SnapshotSaved(files, step))
    return files, None


class TrainingLoop:
    """Runs `Trainer.run` from a worker thread; every outcome ends in exactly one message.

    `stop_n_show` makes the loop stop after the current step to show the last inference.
    `steps` (from `--steps`/`--epochs`) pauses the first runs once that many steps ran.
    `checkpoints` are written between steps while it trains (`--checkpoint-every`).
    """

    def __init__(
        self,
        trainer: Trainer,
        post: Post,
        steps: int | None = None,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        self.trainer, self.post, self.checkpoints = trainer, post, checkpoints
        self.stop = threading.Event()  # makes trainer.run return after the current step
        self.pause_requested = threading.Event()
        self.abort = threading.Event()  # quitting: also interrupts feature extraction
        self.stop_n_show = threading.Event()
        self.prepared = bool(len(trainer.features))  # the set-up worker extracted them
        self.steps_left = steps
        self.runs = 0  # TrainingStopped carries it, so a late message from an old run is known
        self._cancelled: Callable[[], bool] = lambda: False
        self._last_post = 0.0
        self._unposted: StepReport | None = None

    @classmethod
    def for_plan(cls, plan: TrainingPlan, post: Post) -> TrainingLoop:
        """The loop of a planned run: its step limit, its checkpoints in its output folder."""
        every = plan.options.checkpoint_every
        checkpoints = Checkpoints(plan.trainer, plan.info, plan.out_dir, every)
        return cls(plan.trainer, post, plan.steps_to_run(), checkpoints)

    def saved(self) -> None:
        """The run's own files were saved: they hold at least what the checkpoint held."""
        if self.checkpoints is not None:
            self.checkpoints.discard()

    def begin(self) -> None:
        """Call on the app thread just before starting a worker on `run`."""
        self.runs += 1
        self.stop.clear()
        self.pause_requested.clear()
        self.abort.clear()  # a quit that was cancelled must not cancel this run

    def request_pause(self) -> None:
        self.pause_requested.set()
        self.stop.set()

    def request_abort(self) -> None:
        self.abort.set()
        self.request_pause()

    def run(self, cancelled: Callable[[], bool]) -> None:
        """Extract features the first time, then train until asked to stop."""
        self._cancelled, run = cancelled, self.runs
        try:
            if not self.prepared:
                # Pausing waits for extraction to finish: a half-prepared trainer would lose
                # the photos not yet reached. Only quitting (abort) interrupts it.
                self.trainer.prepare(self._on_progress, self.abort)
                if self.abort.is_set():
                    self.post(TrainingStopped("cancelled", None, run))
                    return
                self.prepared = True
                self.post(FeaturesExtracted(dict(self.trainer.failed)))
            done = self.trainer.run(self.stop, self.steps_left, self._on_step, self._on_sample)
            sample = self.trainer.shown_sample() if self.trainer.last_sample else None
        except EXPECTED_ERRORS as exc:
            self.post(TrainingFailed(exc, "training"))
            return
        except Exception as exc:  # a bug must not kill the app: keep the trace in the log
            log.exception("training failed")
            self.post(TrainingFailed(exc, "training"))
            return
        if self._unposted is not None:
            self.post(LossReported(self._unposted))
            self._unposted = None
        self.post(TrainingStopped(self._reason(done), sample, run))

    def _reason(self, done: int) -> StopReason:
        limit_reached = False
        if self.steps_left is not None:
            self.steps_left -= done
            limit_reached = self.steps_left <= 0
            if limit_reached:
                self.steps_left = None  # the limit applies once; later runs are open-ended
        if self.abort.is_set() or self._cancelled():
            return "cancelled"
        if self.pause_requested.is_set():
            return "paused"
        if self.stop_n_show.is_set():
            return "stop-n-show"
        if self.trainer.stop_reason:
            return "converged"
        return "steps-done" if limit_reached else "paused"

    def _on_progress(self, done: int, total: int, what: str) -> None:
        if self._cancelled():
            self.abort.set()
        self.post(ProgressReported(done, total, f"extracting features {fraction(done, total)}"))

    def _on_step(self, report: StepReport) -> None:
        if self.stop_n_show.is_set():
            self.stop.set()
        if self._cancelled():
            self.abort.set()
            self.stop.set()
        if report.changed:
            self.post(RatesApplied(report.changed, report.step))
        if self.checkpoints is not None:
            self.checkpoints.after_step(report)
        now = time.monotonic()
        if now - self._last_post >= REPORT_INTERVAL_S:
            self._last_post = now
            self._unposted = None
            self.post(LossReported(report))
        else:
            self._unposted = report

    def _on_sample(self, sample: SampleShown) -> None:
        self.post(SampleFed(sample))
