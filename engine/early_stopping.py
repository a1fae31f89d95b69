"""Stopping training when held-out accuracy stops improving, and keeping the best weights.

A linear patch on frozen features converges in a few hundred epochs and then only overfits:
more steps do not give a better patch. The criterion is the end-to-end validation accuracy
(what `eval --split val` reports), ties broken by the validation loss, checked once per epoch
(at least every `MIN_CHECK_STEPS` steps); after `patience` checks without improvement the
best weights seen are put back. Without a validation split the training loss is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from neuralpatch.engine.patch_model import LinearPatch, SGDState

DEFAULT_PATIENCE = 30  # checks (an epoch each, at least MIN_CHECK_STEPS) without improvement
MAX_CHECKS = 2000  # a run that keeps improving this long stops anyway
MIN_CHECK_STEPS = 10
LOSS_DELTA = 1e-4  # a loss must fall by this much to count as better at equal accuracy


@dataclass
class EarlyStopping:
    patience: int = DEFAULT_PATIENCE
    best: tuple[float, float] | None = None  # (accuracy, -loss): larger is better
    best_step: int = 0
    since_best: int = 0
    checks: int = 0
    reason: str | None = None  # set when it decided to stop
    _weights: np.ndarray | None = field(default=None, repr=False)
    _bias: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.patience, bool) or not 1 <= self.patience <= 1_000_000:
            raise ValueError("patience must be a whole number from 1 to 1,000,000")

    def check(self, accuracy: float | None, loss: float | None, step: int, patch: LinearPatch):
        """Record one check; returns True when training should stop now."""
        self.checks += 1
        loss = math.inf if loss is None or not math.isfinite(loss) else loss
        score = (-1.0 if accuracy is None else accuracy, -loss)
        if self.best is None or _better(score, self.best):
            self.best, self.best_step, self.since_best = score, step, 0
            self._weights, self._bias = patch.weights.copy(), patch.bias.copy()
            return self.checks >= MAX_CHECKS and self._stop("reached the longest run")
        self.since_best += 1
        if self.since_best >= self.patience:
            return self._stop(f"no improvement in {self.patience} validation checks")
        return self.checks >= MAX_CHECKS and self._stop("reached the longest run")

    def _stop(self, why: str) -> bool:
        self.reason = why
        return True

    def restore(self, patch: LinearPatch, sgd: SGDState) -> None:
        """Put the best weights back; momentum is zeroed (it belonged to later weights)."""
        if self._weights is None or self._bias is None:
            return
        patch.weights[...] = self._weights
        patch.bias[...] = self._bias
        sgd.velocity_w[...] = 0.0
        sgd.velocity_b[...] = 0.0

    def rearm(self) -> None:
        """Training goes on after a stop: give it a new patience window."""
        self.since_best, self.checks, self.reason = 0, 0, None


def _better(score: tuple[float, float], best: tuple[float, float]) -> bool:
    if score[0] != best[0]:
        return score[0] > best[0]
    return score[1] > best[1] + LOSS_DELTA
