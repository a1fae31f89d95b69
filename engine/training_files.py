"""Saving and resuming training: the full snapshot and the shareable `.specialneurons` file.

Both are written atomically and tagged with the same time-based hash in their names, as in
the original tool, so a snapshot and the plugin exported with it pair up at a glance.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from neuralpatch.engine.container import Container
from neuralpatch.engine.errors import ImageError, NeuralpatchError, PatchFormatError
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.loss_history import LossHistory
from neuralpatch.engine.patch_file import (
    MAX_ICON_BYTES,
    PATCH_SUFFIX,
    PatchFile,
    PatchOutput,
    check_icon,
    pack_patch,
    patch_header,
    save_patch,
    timestamped_name,
)
from neuralpatch.engine.patch_model import LinearPatch, SGDState
from neuralpatch.engine.snapshot import (
    SNAPSHOT_SUFFIX,
    Snapshot,
    load_snapshot,
    pack_snapshot,
    save_snapshot,
)
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_state import TrainingState


@dataclass
class PatchInfo:
    """What the user says about the patch: it travels inside the plugin file."""

    name: str
    description: str = ""
    icon_png: bytes | None = None
    min_confidence: float = 0.0  # below this top probability the patch abstains
    trigger_top_k: int = 1  # it triggers on the base network's k best classes


@dataclass
class SavedFiles:
    snapshot: Path
    patch: Path


def read_icon(path: str | Path) -> bytes:
    """The bytes of a trigger-icon PNG, checked the way a patch loader will check them."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ImageError("the icon is not a regular file", path)
        with open(path, "rb") as f:
            data = f.read(MAX_ICON_BYTES + 1)  # check_icon refuses anything longer
    except OSError as exc:
        raise ImageError(f"cannot read icon: {exc.strerror}", path) from exc
    try:
        check_icon(data, Container(path, {}, b""))
    except PatchFormatError as exc:
        raise ImageError(exc.message.replace("icon is", "is"), path) from exc
    return data


def patch_from_trainer(trainer: Trainer, info: PatchInfo) -> PatchFile:
    patch = trainer.state.patch
    return PatchFile(
        name=info.name,
        description=info.description,
        icon_png=info.icon_png,
        triggers=list(trainer.dataset.triggers),
        outputs=[PatchOutput(c.tag, c.name) for c in trainer.outputs],
        weights=patch.weights.copy(),
        bias=patch.bias.copy(),
        base_fingerprint=trainer.base.fingerprint,
        min_confidence=info.min_confidence,
        trigger_top_k=info.trigger_top_k,
    )


def snapshot_of(trainer: Trainer, patch: PatchFile) -> Snapshot:
    """The full snapshot of the trainer as it is now (between two steps)."""
    state = trainer.state
    losses, loss_fields = state.losses.to_saved()
    return Snapshot(
        patch=patch,
        velocity_weights=state.sgd.velocity_w.copy(),
        velocity_bias=state.sgd.velocity_b.copy(),
        hyper=trainer.params.to_dict()
        | {"seed": trainer.seed, "drawn": state.drawn, "val_fraction": trainer.val_fraction}
        | {"elapsed_s": state.elapsed_s}
        | loss_fields,
        step=state.step,
        rng_state=trainer.rng.bit_generator.state,
        loss_history=losses,
        dataset_summary=trainer.dataset.to_summary() | trainer.validation_summary(),
    )


def check_savable(trainer: Trainer, info: PatchInfo, out_dir: Path) -> None:
    """Raise now what `save_training` would raise at the end (names over the format's
    limits, a bad icon): the writers' own checks, run on the files as they would be."""
    patch = patch_from_trainer(trainer, info)
    header, blobs = patch_header(patch, out_dir)
    pack_patch(header, blobs, out_dir / timestamped_name(info.name, PATCH_SUFFIX))
    pack_snapshot(
        snapshot_of(trainer, patch), out_dir / timestamped_name(info.name, SNAPSHOT_SUFFIX)
    )


def save_training(trainer: Trainer, info: PatchInfo, out_dir: Path) -> SavedFiles:
    """Write the plugin file, then the full snapshot, into `out_dir`, named with the same
    time-based hash."""
    stamp = time.time_ns()
    return write_training(
        trainer,
        info,
        out_dir / timestamped_name(info.name, PATCH_SUFFIX, time_ns=stamp),
        out_dir / timestamped_name(info.name, SNAPSHOT_SUFFIX, time_ns=stamp),
    )


def write_training(trainer: Trainer, info: PatchInfo, patch: Path, snapshot: Path) -> SavedFiles:
    """Write the plugin file `patch`, then the full snapshot `snapshot` (atomically each).

    The plugin (what the user shares) goes first and stands on its own: a snapshot that
    cannot be written still leaves it saved, and the error says so.
    """
    trainer.apply_changes()  # rates asked for while paused are what the snapshot holds
    patch.parent.mkdir(parents=True, exist_ok=True)
    patch_file = patch_from_trainer(trainer, info)
    save_patch(patch_file, patch)
    try:
        save_snapshot(snapshot_of(trainer, patch_file), snapshot)
    except (PatchFormatError, OSError) as exc:
        raise SnapshotNotSaved(exc, patch) from exc
    return SavedFiles(snapshot, patch)


class SnapshotNotSaved(NeuralpatchError):
    """The plugin file was written but the snapshot was not (so resuming is not possible)."""

    def __init__(self, cause: Exception, patch: Path):
        super().__init__(f"the snapshot was not saved ({cause}); the patch was: {patch}")
        self.patch = patch


@dataclass
class Resumed:
    """What a full snapshot restores; pass its fields to `Trainer`."""

    state: TrainingState
    params: HyperParams
    info: PatchInfo
    seed: int
    val_fraction: float
    base_fingerprint: str  # the base network it was trained on: resuming on another is wrong


def resume_from(path: str | Path) -> Resumed:
    """Training state, hyper-parameters and patch info stored in a full snapshot."""
    snap = load_snapshot(path)
    hyper = HyperParams.from_dict(snap.hyper)
    try:
        losses = LossHistory.from_saved(snap.loss_history, snap.hyper)
    except ValueError as exc:
        raise PatchFormatError(f"hyper_parameters: {exc}", path) from exc
    state = TrainingState(
        patch=LinearPatch(snap.patch.weights.copy(), snap.patch.bias.copy()),
        sgd=SGDState(snap.velocity_weights.copy(), snap.velocity_bias.copy()),
        step=snap.step,
        losses=losses,
        rng_state=snap.rng_state,
        drawn=int(snap.hyper.get("drawn", 0)),
        output_tags=[o.tag for o in snap.patch.outputs],
        elapsed_s=float(snap.hyper.get("elapsed_s", 0.0)),
    )
    info = PatchInfo(
        snap.patch.name,
        snap.patch.description,
        snap.patch.icon_png,
        snap.patch.min_confidence,
        snap.patch.trigger_top_k,
    )
    return Resumed(
        state,
        hyper,
        info,
        seed=int(snap.hyper.get("seed", 0)),
        val_fraction=float(snap.hyper.get("val_fraction", 0.2)),
        base_fingerprint=snap.patch.base_fingerprint,
    )
