"""What a training run is asked to do, and the trainer built from it — for the CLI and the app.

The CLI turns its options into `TrainingOptions` before anything starts; the training app
receives those (never an argparse Namespace), shows them in its pane and builds a new
`TrainingOptions` from the pane when ^t is pressed. `plan_training` then loads the data,
resumes a snapshot and checks everything the writers will check, so a run that could not be
saved is refused before its first step.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuralpatch.engine.atomic import clean_stale_temps
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.checkpoints import CHECKPOINT_INTERVAL_S
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.early_stopping import DEFAULT_PATIENCE, EarlyStopping
from neuralpatch.engine.errors import SettingError
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.patch_file import MAX_NAME_LEN, MAX_TRIGGER_TOP_K
from neuralpatch.engine.patch_naming import default_patch_name
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, check_savable, read_icon, resume_from


@dataclass(frozen=True)
class TrainingOptions:
    """`neuralpatch train`'s options as engine values; empty strings mean "the default".

    `params` are complete: when resuming, the snapshot's rates with the given ones on top
    (see `resumed_params`), so the app's pane shows what training will use.
    """

    data: str
    params: HyperParams = field(default_factory=HyperParams)
    base: str = ""  # the base network's .txt; "": the packaged one
    device: str | None = None
    name: str = ""  # "": the snapshot's name when resuming, else the dataset folder's
    description: str = ""
    icon: str = ""
    out: str = ""  # "": a folder beside the dataset (`default_out_dir`)
    resume: str = ""
    masters: str = ""
    val_fraction: float = 0.2
    seed: int = 0
    steps: int | None = None  # None: until stopped
    epochs: float | None = None
    checkpoint_every: float = CHECKPOINT_INTERVAL_S  # seconds; 0: no checkpoints
    # Without steps/epochs: stop after this many validation checks without improvement,
    # keeping the best weights (0: train until stopped).
    patience: int = DEFAULT_PATIENCE
    min_confidence: float | None = None  # stored in the patch; None: the snapshot's, else 0
    trigger_top_k: int | None = None  # stored in the patch; None: the snapshot's, else 1

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 1:
            raise SettingError("--steps must be at least 1")
        if self.epochs is not None and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise SettingError("--epochs must be a number above 0")
        if self.seed < 0:
            raise SettingError("--seed must be 0 or more")
        if not (math.isfinite(self.val_fraction) and 0 <= self.val_fraction < 1):
            raise SettingError("--val-fraction must be in [0, 1)")
        if not (math.isfinite(self.checkpoint_every) and self.checkpoint_every >= 0):
            raise SettingError("--checkpoint-every must be 0 (never) or more seconds")
        if isinstance(self.patience, bool) or not 0 <= self.patience <= 1_000_000:
            raise SettingError("--patience must be a whole number from 0 to 1,000,000")
        confidence = self.min_confidence
        if confidence is not None and not (math.isfinite(confidence) and 0 <= confidence <= 1):
            raise SettingError("--min-confidence must be in [0, 1]")
        k = self.trigger_top_k
        if k is not None and (isinstance(k, bool) or not 1 <= k <= MAX_TRIGGER_TOP_K):
            raise SettingError(
                f"--trigger-top-k must be a whole number from 1 to {MAX_TRIGGER_TOP_K}"
            )

    def replace(self, **changes: Any) -> TrainingOptions:
        return dataclasses.replace(self, **changes)

    def out_dir(self) -> Path:
        return Path(self.out).expanduser() if self.out else default_out_dir(self.data)


def resumed_params(resume: str, given: dict[str, Any], augment: bool) -> HyperParams:
    """The rates a run uses: those `given`, else the snapshot's (`resume`), else the defaults.

    Augmentation is on when asked for or when the snapshot had it on.
    """
    start = resume_from(resume).params if resume else HyperParams()
    return start.replace(**given, augment=augment or start.augment)


@dataclass
class TrainingPlan:
    """A trainer ready to `prepare()`, with what it is saved as and where."""

    options: TrainingOptions
    trainer: Trainer
    info: PatchInfo
    out_dir: Path
    resumed: bool
    warnings: list[str] = field(default_factory=list)  # e.g. master patches refused

    def steps_to_run(self) -> int | None:
        """`--steps`, or `--epochs` in steps (counted on the photos that decoded)."""
        if self.options.epochs is not None:
            return self.trainer.steps_for_epochs(self.options.epochs)
        return self.options.steps


def plan_training(options: TrainingOptions, base: BaseNetwork) -> TrainingPlan:
    """Load the dataset (and snapshot) the options name and check the run can be saved."""
    warnings: list[str] = []
    masters = _masters(options.masters, base, warnings)
    tags = base.classes.tag_names() | (masters.output_tags() if masters else {})
    dataset = load_dataset(options.data, tags)
    state, seed, val_fraction = None, options.seed, options.val_fraction
    info = PatchInfo(_default_name(options.data, [c.name for c in dataset.outputs]))
    if options.resume:
        resumed = resume_from(options.resume)
        if resumed.base_fingerprint != base.fingerprint:
            raise SettingError(
                f"the snapshot was trained on another base network "
                f"({resumed.base_fingerprint}; this one is {base.fingerprint})",
                options.resume,
            )
        state, info = resumed.state, resumed.info
        seed, val_fraction = resumed.seed, resumed.val_fraction
    info = PatchInfo(
        options.name or info.name,
        options.description or info.description,
        read_icon(Path(options.icon).expanduser()) if options.icon else info.icon_png,
        info.min_confidence if options.min_confidence is None else options.min_confidence,
        info.trigger_top_k if options.trigger_top_k is None else options.trigger_top_k,
    )
    trainer = Trainer(base, dataset, options.params, state, seed, val_fraction, masters)
    trainer.trigger_top_k = info.trigger_top_k  # validation and coverage use the patch's rule
    forced = options.steps is not None or options.epochs is not None
    stops = options.patience and not forced
    trainer.early_stopping = EarlyStopping(options.patience) if stops else None
    out_dir = options.out_dir()
    check_out_dir(out_dir)
    clean_stale_temps(out_dir)  # left by a run killed while it saved
    check_savable(trainer, info, out_dir)
    return TrainingPlan(options, trainer, info, out_dir, bool(options.resume), warnings)


def _default_name(data: str, outputs: list[str]) -> str:
    """The dataset folder's name (or its parent's, or the outputs, when it is a generic
    `train` or `images`), cut to what a patch name may hold (the user did not choose it, so
    it is shortened rather than refused)."""
    return default_patch_name(Path(data).expanduser(), outputs)[:MAX_NAME_LEN]


def _masters(folder: str, base: BaseNetwork, warnings: list[str]) -> PatchSystem | None:
    """The master patches in `folder`: their outputs may trigger a slave patch, and they
    decide which of its photos trigger it."""
    if not folder:
        return None
    masters = PatchSystem.for_base(base)
    masters.load_dir(folder)
    warnings.extend(f"{path}: {reason}" for path, reason in masters.rejected.items())
    return masters


def default_out_dir(data: str | Path) -> Path:
    """Where a run's files go unless told: `<dataset>-patches`, a visible folder beside it.

    Not a cache folder (files a user keeps must be easy to find), and not inside the dataset
    (snapshots are no training photos).
    """
    root = Path(os.path.abspath(Path(data).expanduser()))
    return root.parent / f"{root.name or 'dataset'}-patches"


def output_folder_problem(out_dir: Path) -> str | None:
    """Why files cannot be written into `out_dir` (made if missing), or None; nothing is made."""
    existing = out_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"not a folder: {existing}"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"not writable: {existing}"
    return None


def check_out_dir(out_dir: Path) -> None:
    """Make sure the snapshot and patch can be written before any training time is spent."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingError(f"cannot use it as the output folder: {exc.strerror}", out_dir) from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise SettingError("the output folder is not writable", out_dir)
