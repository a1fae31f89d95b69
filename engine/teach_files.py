"""Saving and resuming a teach session: the full snapshot and the `.specialneurons` plugin.

The plugin marks its background output (`background_output`), so `classify` and `camera`
show an answer there as "none". A resumed snapshot's rows are matched to the dataset's
outputs by tag: a category added since starts fresh, one removed since is dropped.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from neuralpatch.engine.errors import ImageError, PatchFormatError, SettingError
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.patch_file import (
    PATCH_SUFFIX,
    PatchFile,
    PatchOutput,
    safe_name,
    save_patch,
    timestamped_name,
)
from neuralpatch.engine.patch_model import LinearPatch, SGDState
from neuralpatch.engine.snapshot import SNAPSHOT_SUFFIX, Snapshot, load_snapshot, save_snapshot

ICON_SIDE = 32


@dataclass
class TeachSaved:
    """Where a save went: the snapshot and patch in --out, and the copies in --patches."""

    snapshot: Path
    patch: Path
    copies: list[Path]


@dataclass
class TeachResume:
    patch: LinearPatch
    sgd: SGDState
    rates: HyperParams
    step: int
    losses: list[float]


def teach_files(
    name: str,
    root: Path,
    triggers: list[str],
    outputs: list[PatchOutput],
    captured: tuple[LinearPatch, SGDState, int, list[float], dict],
    rates: HyperParams,
    fingerprint: str,
    summary: dict,
    seed: int = 0,
    icon_png: bytes | None = None,
) -> tuple[PatchFile, Snapshot]:
    """The plugin (background = the last output) and the full snapshot of a teach session."""
    patch, sgd, step, losses, rng_state = captured
    plugin = PatchFile(
        name=name,
        description=f"taught live on {root.name}",
        triggers=triggers,
        outputs=outputs,
        weights=patch.weights,
        bias=patch.bias,
        base_fingerprint=fingerprint,
        background=len(outputs) - 1,
        icon_png=icon_png,
    )
    hyper = {**rates.replace(augment=False).to_dict(), "seed": seed}
    snapshot = Snapshot(
        plugin,
        sgd.velocity_w,
        sgd.velocity_b,
        hyper,
        step,
        rng_state,
        np.asarray(losses, np.float32),
        summary,
    )
    return plugin, snapshot


def teach_icon(photos: Iterable[Path]) -> bytes | None:
    """A square thumbnail of the first readable photo (the newest one labelled): the icon a
    market entry needs and the camera draws beside the answer; None without one."""
    for photo in photos:
        try:
            rgb = decode_image(photo)
            break
        except ImageError:
            continue
    else:
        return None
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(rgb[top : top + side, left : left + side])
    out = io.BytesIO()
    square.resize((ICON_SIDE, ICON_SIDE), Image.Resampling.LANCZOS).save(out, format="PNG")
    return out.getvalue()


def save_teach(
    patch: PatchFile,
    snapshot: Snapshot,
    out_dir: Path,
    patches_dir: Path | None,
    previous: list[Path],
) -> TeachSaved:
    """Write snapshot + plugin into `out_dir`, and both into `patches_dir` when given.

    The copies this session wrote before (`previous`) are removed from the patch folder once
    the new ones are in place, so the hot-reloading tester runs one version, the latest.
    """
    stamp = time.time_ns()
    out_dir.mkdir(parents=True, exist_ok=True)
    snap_name = timestamped_name(patch.name, SNAPSHOT_SUFFIX, time_ns=stamp)
    patch_name = timestamped_name(patch.name, PATCH_SUFFIX, time_ns=stamp)
    snap_path = save_snapshot(snapshot, out_dir / snap_name)
    patch_path = save_patch(patch, out_dir / patch_name)
    copies: list[Path] = []
    if patches_dir is not None and patches_dir.resolve() != out_dir.resolve():
        patches_dir.mkdir(parents=True, exist_ok=True)
        # The snapshot first: the tester that loads the patch finds its dataset beside it.
        copies.append(save_snapshot(snapshot, patches_dir / snap_name))
        copies.append(save_patch(patch, patches_dir / patch_name))
        for old in previous:
            if old not in copies:
                old.unlink(missing_ok=True)
    return TeachSaved(snap_path, patch_path, copies)


def is_session_copy(path: Path, name: str, patches_dir: Path | None) -> bool:
    """Whether `path` is a copy `save_teach` writes into `patches_dir` for a session called
    `name`: its reload by the folder's watcher is the save itself, not news to report."""
    if patches_dir is None or path.parent.resolve() != patches_dir.resolve():
        return False
    stem = re.escape(safe_name(name))
    suffixes = "|".join(re.escape(s) for s in (PATCH_SUFFIX, SNAPSHOT_SUFFIX))
    return re.fullmatch(rf"{stem}_[0-9a-f]{{12}}(?:{suffixes})", path.name) is not None


def resume_teach(
    path: str | Path, tags: list[str], feature_dim: int, fingerprint: str, seed: int = 0
) -> TeachResume:
    """Weights for `tags` (the session's outputs) from a snapshot, matched by tag."""
    try:
        snap = load_snapshot(path)
    except PatchFormatError:
        raise
    if snap.patch.base_fingerprint != fingerprint:
        raise SettingError(
            f"the snapshot was trained on another base network ({snap.patch.base_fingerprint}; "
            f"this one is {fingerprint})",
            path,
        )
    if snap.patch.feature_dim != feature_dim:
        raise SettingError("the snapshot does not fit this base network", path)
    rows = {int(o.tag[1:]): i for i, o in enumerate(snap.patch.outputs)}
    fresh = LinearPatch.xavier(len(tags), feature_dim, np.random.default_rng(seed))
    velocity = SGDState.zeros_like(fresh)
    for k, tag in enumerate(tags):
        i = rows.get(int(tag[1:]))
        if i is not None:
            fresh.weights[k] = snap.patch.weights[i]
            fresh.bias[k] = snap.patch.bias[i]
            velocity.velocity_w[k] = snap.velocity_weights[i]
            velocity.velocity_b[k] = snap.velocity_bias[i]
    hyper = snap.hyper
    rates = HyperParams(
        lr=hyper["lr"],
        momentum=hyper["momentum"],
        decay=hyper["decay"],
        batch_size=hyper["batch_size"],
    )
    return TeachResume(fresh, velocity, rates, snap.step, [float(x) for x in snap.loss_history])
