"""Periodic checkpoints of a training run, so a kill -9, an OOM kill or a power cut loses
minutes, not the run.

Between two steps (from the training thread), `Checkpoints.after_step` writes the snapshot
and the plugin under fixed names — `<name>_checkpoint.npsnapshot` / `.specialneurons`,
each atomically, each replacing the last — every `interval_s` and when the validation
accuracy improves (at most every `MIN_INTERVAL_S`). `discard()` removes them once the run's
own files are saved. A checkpoint that cannot be written never stops training.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.patch_file import PATCH_SUFFIX, safe_name
from neuralpatch.engine.snapshot import SNAPSHOT_SUFFIX
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, SavedFiles, write_training
from neuralpatch.engine.training_state import StepReport

log = logging.getLogger(__name__)
CHECKPOINT_INTERVAL_S = 300.0
MIN_INTERVAL_S = 30.0  # validation can improve many times a minute early on


class Checkpoints:
    def __init__(
        self,
        trainer: Trainer,
        info: PatchInfo,
        out_dir: Path,
        interval_s: float = CHECKPOINT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.trainer, self.info, self.interval_s, self.clock = trainer, info, interval_s, clock
        stem = f"{safe_name(info.name)}_checkpoint"
        self.files = SavedFiles(out_dir / (stem + SNAPSHOT_SUFFIX), out_dir / (stem + PATCH_SUFFIX))
        self.saved_step: int | None = None
        self.error: str | None = None  # why the last checkpoint failed, if it did
        self._saved_at = clock()
        self._best: float | None = None

    def after_step(self, report: StepReport) -> bool:
        """Checkpoint if one is due; returns whether one was written."""
        if self.interval_s <= 0:
            return False
        since = self.clock() - self._saved_at
        improved = report.val_accuracy is not None and (
            self._best is None or report.val_accuracy > self._best
        )
        if since < self.interval_s and not (improved and since >= MIN_INTERVAL_S):
            return False
        if report.val_accuracy is not None:
            self._best = max(report.val_accuracy, self._best or 0.0)
        return self.save()

    def save(self) -> bool:
        self._saved_at = self.clock()
        try:
            write_training(self.trainer, self.info, self.files.patch, self.files.snapshot)
        except (NeuralpatchError, OSError) as exc:
            self.error = str(exc)
            log.warning("checkpoint not written: %s", exc)
            return False
        self.saved_step, self.error = self.trainer.state.step, None
        return True

    def discard(self) -> None:
        """Remove the checkpoint files: the run's own files now hold at least as much."""
        for path in (self.files.snapshot, self.files.patch):
            path.unlink(missing_ok=True)
