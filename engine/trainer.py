"""Training a patch: mini-batch SGD on the base network's pooled features.

Synchronous and UI-free: `Trainer.run` reports through callbacks and stops when a
`threading.Event` is set, so the terminal app drives it from a worker thread and the CLI
from the main thread. `trainer.params` is frozen: other threads ask for new rates with
`request_change`, a queue the training thread drains between two steps.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neuralpatch.engine.augment import rand_tilt_shift
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import Dataset, Sample
from neuralpatch.engine.early_stopping import MIN_CHECK_STEPS, EarlyStopping
from neuralpatch.engine.end_to_end_validation import Validation, per_class_end_to_end
from neuralpatch.engine.epoch_draws import EpochDraws
from neuralpatch.engine.errors import DatasetError, ImageError, SettingError
from neuralpatch.engine.feature_matrix import FeatureMatrix, Split
from neuralpatch.engine.held_out import HeldOut
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.number_text import count
from neuralpatch.engine.patch_model import LinearPatch, SGDState, sgd_step
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.rate_changes import RateChanges
from neuralpatch.engine.training_features import prepare_run
from neuralpatch.engine.training_state import SampleShown, StepReport, TrainingState
from neuralpatch.engine.trigger_coverage import TriggerCoverage
from neuralpatch.engine.work_images import WorkImages

SAMPLE_INTERVAL_S = 0.1  # the image feed is throttled to about ten images a second


class Trainer:
    """Trains one patch on one dataset; `prepare()` first, then `run()` as often as wanted."""

    def __init__(
        self,
        base: BaseNetwork,
        dataset: Dataset,
        params: HyperParams | None = None,
        state: TrainingState | None = None,
        seed: int = 0,
        val_fraction: float = 0.2,
        masters: PatchSystem | None = None,
    ):
        self.base, self.dataset = base, dataset
        self.params = params or HyperParams()
        self._changes = RateChanges()
        self.outputs = dataset.outputs
        if not self.outputs:
            raise DatasetError("no output category has images", dataset.map_path)
        self.rng = np.random.default_rng(seed)
        if state is None:
            patch = LinearPatch.xavier(len(self.outputs), base.feature_dim, self.rng)
            velocity = SGDState(np.zeros_like(patch.weights), np.zeros_like(patch.bias))
            state = TrainingState(patch, velocity)
        self.state = state
        state.check_fits([c.tag for c in self.outputs], base.feature_dim, dataset.map_path)
        if self.state.rng_state:
            self.rng.bit_generator.state = self.state.rng_state
        if not 0.0 <= val_fraction < 1.0:
            raise SettingError("the validation fraction must be in [0, 1)")
        self.seed, self.val_fraction = seed, val_fraction
        self.train_samples, self.val_samples = dataset.split(val_fraction, seed)
        self.features = FeatureMatrix(np.zeros((0, base.feature_dim), np.float32), [], {})
        self._train = self._val = Split([], np.zeros(0, np.int64), np.zeros(0, np.int64))
        self.failed: dict[Path, str] = {}
        self.last_sample: SampleShown | None = None
        self.last_report: StepReport | None = None
        self._draws = EpochDraws(seed, 0)
        self._work_images = WorkImages()
        self._last_shown = 0.0
        self.held_out = HeldOut.empty(base.feature_dim, [c.name for c in self.outputs])
        self.masters = masters  # a slave's masters: they decide which photos trigger it
        self.trigger_top_k = 1  # the patch triggers on the base's k best classes
        self.coverage: TriggerCoverage | None = None  # of all decoded photos, after prepare
        # run() with no step count stops by itself with this (None: trains until stopped).
        self.early_stopping: EarlyStopping | None = EarlyStopping()
        self.stop_reason: str | None = None

    # -- preparation -------------------------------------------------------------------
    def prepare(
        self,
        on_progress: Callable[[int, int, str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Compute (or read from the cache) features of every photo; drop undecodable ones.

        The features become one array, validation photos first, so the validation split is
        a view of its first rows rather than a stack rebuilt at every validation.
        """
        splits = (self.val_samples, self.train_samples)
        run = prepare_run(
            self.base, self.dataset, splits, self.masters, self.trigger_top_k, on_progress, stop
        )
        if not run.train.samples:
            raise DatasetError("no training image could be decoded", self.dataset.root)
        self.features, self.failed, self.coverage = run.features, run.failed, run.coverage
        self._train, self._val, self.held_out = run.train, run.val, run.held_out
        self.train_samples, self.val_samples = run.train.samples, run.val.samples
        self._draws = EpochDraws(self.seed, len(run.train))

    @property
    def val_fired(self) -> np.ndarray:
        """Which validation photos trigger the patch (the others count as misses)."""
        return self.held_out.fired

    @property
    def epoch(self) -> float:
        return self.state.drawn / max(1, len(self.train_samples))

    def steps_for_epochs(self, epochs: float) -> int:
        return max(1, math.ceil(epochs * len(self.train_samples) / self.params.batch_size))

    # -- live changes ------------------------------------------------------------------
    def request_change(self, **changes: object) -> None:
        """Ask, from any thread, for new rates; they apply before the next step.

        Values must already be valid (the pane checks them with `rate_problem`); one that is
        not is dropped when applied, never half-applied.
        """
        self._changes.put(changes)

    def apply_changes(self) -> dict[str, object]:
        """Take the requested changes (called between steps); returns those that changed."""
        self.params, applied = self._changes.apply(self.params)
        return applied

    # -- training ----------------------------------------------------------------------
    def _draw(self, n: int) -> np.ndarray:
        """Positions in the training split of the next `n` draws (see `EpochDraws`)."""
        picked = self._draws.take(n, self.state.drawn)
        self.state.drawn += n
        return picked

    def _batch_features(self, picked: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        if not self.params.augment:
            return self.features.rows[self._train.rows[picked]], []
        paths = [self._train.samples[i][0] for i in picked]
        views = [rand_tilt_shift(self._work_images.get(p), self.rng) for p in paths]
        return self.base.run(views).features, views

    def step(self) -> StepReport:
        """One SGD step on a random mini-batch."""
        started = time.perf_counter()
        changed = self.apply_changes()
        params = self.params
        picked = self._draw(params.batch_size)
        features, views = self._batch_features(picked)
        labels = self._train.labels[picked]
        loss, probs = sgd_step(
            self.state.patch,
            self.state.sgd,
            features,
            labels,
            params.lr,
            params.momentum,
            params.decay,
        )
        self.state.step += 1
        self.state.losses.add(loss)
        self.state.elapsed_s += time.perf_counter() - started
        self._remember_sample(self._train.samples[picked[0]], views[0] if views else None, probs[0])
        if self.held_out.clock.due():
            self._refresh_validation()
        self.last_report = StepReport(
            step=self.state.step,
            epoch=self.epoch,
            loss=loss,
            rolling_loss=self.state.losses.rolling,
            images_per_s=len(picked) / max(time.perf_counter() - started, 1e-9),
            elapsed_s=self.state.elapsed_s,
            val_accuracy=None,
            changed=changed,
        )
        self.held_out.fill(self.last_report)
        return self.last_report

    def _refresh_validation(self) -> Validation:
        started = time.perf_counter()
        validation = self.validation()
        return self.held_out.remember(validation, self.state.step, time.perf_counter() - started)

    def current_report(self) -> StepReport:
        """The last report, or before the first step of this session (a resumed run) one
        that continues the snapshot's step, epoch, loss and elapsed time."""
        if self.last_report is not None:
            return self.last_report
        s = self.state
        return StepReport(s.step, self.epoch, math.nan, s.losses.rolling, 0.0, s.elapsed_s, None)

    def fresh_report(self) -> StepReport | None:
        """The last report with validation recomputed for the current weights."""
        if self.last_report is not None and self.held_out.step != self.state.step:
            self._refresh_validation()
            self.held_out.fill(self.last_report)
        return self.last_report

    def _remember_sample(self, sample: Sample, view: np.ndarray | None, probs: np.ndarray) -> None:
        path, true_index = sample
        self.last_sample = SampleShown(path, view, true_index, int(np.argmax(probs)), probs)

    def run(
        self,
        stop: threading.Event,
        steps: int | None = None,
        on_step: Callable[[StepReport], None] | None = None,
        on_sample: Callable[[SampleShown], None] | None = None,
    ) -> int:
        """Train until `stop` is set (or `steps` more steps ran); returns steps done."""
        done = 0
        window: deque[tuple[float, int]] = deque(maxlen=10)
        early = self.early_stopping if steps is None else None
        if early is not None:
            early.rearm()
        self.stop_reason = None
        check_every = max(MIN_CHECK_STEPS, self.steps_for_epochs(1))
        while not stop.is_set() and (steps is None or done < steps):
            started = time.perf_counter()
            report = self.step()
            done += 1
            if early is not None and self.state.step % check_every == 0 and self._early_stop(early):
                self.held_out.fill(report)  # the best weights' figures, not the last ones
                break
            window.append((time.perf_counter() - started, int(self.params.batch_size)))
            report.images_per_s = sum(n for _, n in window) / max(sum(t for t, _ in window), 1e-9)
            if on_step:
                on_step(report)
            if on_sample and time.monotonic() - self._last_shown >= SAMPLE_INTERVAL_S:
                self._last_shown = time.monotonic()
                on_sample(self.shown_sample())
        self.state.rng_state = self.rng.bit_generator.state
        if done and self.last_report is not None:  # the final figures are never stale
            self._refresh_validation()
            self.held_out.fill(self.last_report)
        return done

    def _early_stop(self, early: EarlyStopping) -> bool:
        """One early-stopping check; on a stop the best weights are back and it says why."""
        if len(self._val):
            v = self._refresh_validation()
            accuracy, loss = v.end_to_end, v.loss
        else:  # nothing held out: the training loss of the last epoch is all there is
            accuracy, loss = None, self.state.losses.rolling
        if not early.check(accuracy, loss, self.state.step, self.state.patch):
            return False
        early.restore(self.state.patch, self.state.sgd)
        self._refresh_validation()
        best = early.best
        shown = f"end to end {best[0]:.1%}, " if best and best[0] >= 0 else ""
        loss_text = f"loss {-best[1]:.4f}" if best and math.isfinite(best[1]) else ""
        self.stop_reason = (
            f"stopped by itself: {early.reason}; kept the best weights, from step "
            f"{count(early.best_step)} ({shown}{loss_text})".replace(", )", ")")
        )
        return True

    def shown_sample(self) -> SampleShown:
        """The last sample, with its image decoded if training did not already hold it."""
        sample = self.last_sample
        if sample is None:
            raise RuntimeError("no step has run yet")
        if sample.image is None:
            try:
                sample.image = self._work_images.get(sample.path)
            except ImageError:
                sample.image = None
        return sample

    # -- evaluation --------------------------------------------------------------------
    def validate(self) -> tuple[float | None, list[float | None]]:
        """End-to-end accuracy and per-class accuracy on the held-out split."""
        if not len(self._val):
            return None, []
        v = self.validation()
        return v.end_to_end, per_class_end_to_end(v.report)

    def validation(self) -> Validation:
        """The held-out split scored as `eval --split val` does (cached features; an
        untriggered photo is a miss)."""
        return self.held_out.score(self.state.patch)

    def validation_lines(self) -> list[str]:
        """The validation split as `eval` reports it, with the misclassified photos."""
        return self.held_out.lines(self.validation())

    def validation_summary(self) -> dict:
        """`{"validation": ...}` for the snapshot once features are in, else nothing."""
        if not len(self.features) or len(self.held_out) != len(self._val):
            return {}
        return {"validation": self.validation().to_dict() | {"step": self.state.step}}
