"""What a training run holds between steps, and what it reports after each one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralpatch.engine.errors import DatasetError
from neuralpatch.engine.loss_history import LossHistory
from neuralpatch.engine.patch_model import LinearPatch, SGDState


@dataclass
class StepReport:
    """Sent after every step."""

    step: int
    epoch: float
    loss: float
    rolling_loss: float
    images_per_s: float
    elapsed_s: float
    val_accuracy: float | None
    per_class_accuracy: list[float | None] = field(default_factory=list)
    changed: dict[str, object] = field(default_factory=dict)  # rates that apply from this step
    # val_accuracy and per_class_accuracy are end to end (an untriggered photo is a miss);
    # this is the accuracy among the validation photos that trigger the patch.
    val_when_triggered: float | None = None
    val_step: int = 0  # the step the validation figures were computed at


@dataclass
class SampleShown:
    """One image just fed to training, with the patch's answer for it."""

    path: Path
    image: np.ndarray | None  # RGB uint8 (the augmented view when augmenting)
    true_index: int
    predicted_index: int
    probabilities: np.ndarray


@dataclass
class TrainingState:
    """Everything a full snapshot must hold to resume exactly."""

    patch: LinearPatch
    sgd: SGDState
    step: int = 0
    losses: LossHistory = field(default_factory=LossHistory)
    rng_state: dict | None = None
    drawn: int = 0  # samples drawn so far: with the seed it fixes where the epoch order is
    output_tags: list[str] | None = None  # from a snapshot: must match the dataset
    elapsed_s: float = 0.0  # training time so far, over every session of the run

    def check_fits(self, tags: list[str], feature_dim: int, map_path: Path) -> None:
        """A resumed state must be for these outputs and this base network."""
        if self.output_tags is not None and self.output_tags != tags:
            raise DatasetError(
                f"the snapshot was trained on outputs {' '.join(self.output_tags)} but "
                f"the dataset has {' '.join(tags)}",
                map_path,
            )
        if self.patch.weights.shape != (len(tags), feature_dim):
            raise DatasetError("the snapshot does not fit this base network and dataset", map_path)
