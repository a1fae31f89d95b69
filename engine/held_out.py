"""The validation split of a training run: stacked once, scored end to end, on a clock.

The split is one array (a view of the first rows of the run's feature matrix), so scoring it
is one matrix product, never a stack rebuilt per validation. A cached step takes
microseconds, so validating after every step would cost more than training: `ValidationClock`
says when a validation is due. It starts counting when the last one ended, and waits at least
`VALIDATION_SHARE`⁻¹ times as long as that one took, so however large the split, validation
takes at most that share of the training time (at 120k photos a validation takes tens of
milliseconds; at 1k a fraction of one). Reports in between reuse the last figures, saying
which step they were computed at.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neuralpatch.engine.end_to_end_validation import (
    Validation,
    per_class_end_to_end,
    validate_end_to_end,
    validation_lines,
)
from neuralpatch.engine.patch_model import LinearPatch
from neuralpatch.engine.training_state import StepReport

VALIDATE_INTERVAL_S = 0.2  # the shortest wait between two validations
VALIDATION_SHARE = 0.05  # at most this share of the training time goes to validating


class ValidationClock:
    """`due()` once the wait after the last validation has passed; `ran(seconds)` after one."""

    def __init__(
        self,
        interval_s: float = VALIDATE_INTERVAL_S,
        share: float = VALIDATION_SHARE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s, self.share, self.clock = interval_s, share, clock
        self._next: float | None = None  # None: never validated, so due at once

    def due(self) -> bool:
        return self._next is None or self.clock() >= self._next

    def ran(self, seconds: float) -> None:
        """A validation just ended after `seconds`: the wait starts now."""
        self._next = self.clock() + max(self.interval_s, seconds / self.share)


class HeldOut:
    """Features, labels, trigger mask and paths of the validation photos, and the last score."""

    def __init__(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        fired: np.ndarray,
        names: list[str],
        paths: list[Path],
    ) -> None:
        self.features, self.labels, self.fired = features, labels, fired
        self.names, self.paths = names, paths
        self.last: Validation | None = None
        self.step = 0  # the step `last` was computed at
        self.clock = ValidationClock()

    @classmethod
    def empty(cls, dim: int, names: list[str]) -> HeldOut:
        nothing = np.zeros(0, np.int64)
        return cls(np.zeros((0, dim), np.float32), nothing, np.zeros(0, bool), names, [])

    def __len__(self) -> int:
        return len(self.labels)

    def score(self, patch: LinearPatch) -> Validation:
        """As `eval --split val` scores it: an untriggered photo is a miss."""
        return validate_end_to_end(patch, self.features, self.labels, self.fired, self.names)

    def remember(self, validation: Validation, step: int, seconds: float) -> Validation:
        self.last, self.step = validation, step
        self.clock.ran(seconds)
        return validation

    def fill(self, report: StepReport) -> None:
        """Put the last figures (None without a split) into `report`."""
        v = self.last if len(self) else None
        report.val_step = self.step
        report.val_accuracy = v.end_to_end if v else None
        report.val_when_triggered = v.when_triggered if v else None
        report.per_class_accuracy = per_class_end_to_end(v.report) if v else []

    def lines(self, validation: Validation) -> list[str]:
        """The split as `eval` reports it, with the misclassified photos."""
        return validation_lines(validation, self.paths)
