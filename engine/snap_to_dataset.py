"""Snapping a live frame into a dataset: the photo a patch got wrong, filed under the right tag.

A snap is saved as `<tag>_<timestamp>.jpg` at the root of a dataset folder, atomically, so
the next training run (and `neuralpatch dataset check`) counts it. The datasets on offer are
the folders given with `--dataset`, plus the folder each loaded patch was trained on when it
can be found: a `.specialneurons` file does not record its dataset, but the `.npsnapshot`
saved beside it (same stem) does, in its dataset summary.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from neuralpatch.engine.class_map import MAX_TAG_LEN, is_tag
from neuralpatch.engine.dataset import Category, Dataset, load_dataset
from neuralpatch.engine.errors import DatasetError, NeuralpatchError, PatchFormatError
from neuralpatch.engine.image_io import save_jpeg_atomic
from neuralpatch.engine.snapshot import SNAPSHOT_SUFFIX, snapshot_dataset_root

SNAP_QUALITY = 92
PHOTO_MODE = 0o644


class SnapError(NeuralpatchError):
    """A snapped frame that could not be written (full disk, read-only folder, ...)."""


@dataclass
class SnapTarget:
    """A dataset a frame can be filed into; `categories` are its outputs in neuron order, then
    the categories still waiting for their first photo."""

    root: Path
    label: str  # how to name it in a list: the folder, and the patch that uses it if any
    categories: list[Category]
    patches: list[str] = field(default_factory=list)  # names of loaded patches trained on it


def snap_name(tag: str, when: datetime | None = None) -> str:
    """`<tag>_<UTC time to the microsecond>.jpg`: `n02121808_20250611T142355123456Z.jpg`."""
    when = when or datetime.now(UTC)
    return f"{tag}_{when.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}.jpg"


def save_snap(rgb: np.ndarray, root: str | Path, tag: str, *, when: datetime | None = None) -> Path:
    """Write `rgb` as `<tag>_<timestamp>.jpg` at the root of the dataset folder `root`.

    Never overwrites: a name already taken gets a `-1`, `-2`, ... before `.jpg`. Raises
    SnapError naming the folder for anything the file system refuses.
    """
    root = Path(root)
    if not is_tag(tag):  # the tag becomes the file name: `../x` or `a/b` would escape `root`
        raise SnapError(
            f"{str(tag)[:80]!r} is not a tag ('n' followed by digits, at most "
            f"{MAX_TAG_LEN} characters)",
            root,
        )
    if not root.is_dir():
        raise SnapError("the dataset folder does not exist", root)
    name = snap_name(tag, when)
    path = root / name
    n = 0
    while path.exists():
        n += 1
        path = root / f"{name[:-4]}-{n}.jpg"
    try:
        save_jpeg_atomic(path, rgb, SNAP_QUALITY)
    except OSError as exc:
        reason = {
            errno.ENOSPC: "the disk is full",
            errno.EROFS: "the folder is read-only",
            errno.EACCES: "permission denied",
            errno.EDQUOT: "disk quota exceeded",
        }
        raise SnapError(
            f"cannot save the snapped image: {reason.get(exc.errno, exc.strerror or str(exc))}",
            path,
        ) from exc
    # The temp file behind the atomic write is private (0600); a dataset photo is not.
    with contextlib.suppress(OSError):  # the photo is saved; its mode is a nicety
        path.chmod(PHOTO_MODE)
    return path


def read_target(
    root: str | Path, base_tags: Mapping[str, str], patches: Iterable[str] = ()
) -> SnapTarget:
    """The dataset at `root` as a snap target; raises DatasetError when it is not usable."""
    dataset = load_dataset(root, base_tags, empty_ok=True)
    names = list(patches)
    label = dataset.root.name or str(dataset.root)
    if names:
        label += f"  ({', '.join(names)})"
    return SnapTarget(dataset.root, label, snap_categories(dataset), names)


def snap_categories(dataset: Dataset) -> list[Category]:
    """The outputs, then categories that are no trigger and have no photo yet (a new one)."""
    waiting = [c for c in dataset.categories if not c.images and not c.is_trigger]
    return dataset.outputs + sorted(waiting, key=lambda c: c.index)


def dataset_of_patch(patch_path: str | Path) -> Path | None:
    """The dataset folder a patch was trained on, from the snapshot saved beside it, if any."""
    snapshot = Path(patch_path).with_suffix(SNAPSHOT_SUFFIX)
    if not snapshot.is_file():
        return None
    try:  # the header alone: a snapshot's arrays can be hundreds of megabytes
        root = snapshot_dataset_root(snapshot)
    except PatchFormatError:
        return None
    if root is None or "\0" in root:
        return None
    folder = Path(root)
    return folder if folder.is_dir() else None


def find_targets(
    dataset_dirs: Iterable[str | Path],
    patch_files: Iterable[tuple[str, Path]],
    base_tags: Mapping[str, str],
) -> tuple[list[SnapTarget], list[str]]:
    """Snap targets from `--dataset` folders and the loaded patches' own datasets.

    `patch_files` are (patch name, file) pairs. Returns the targets, each folder once, and a
    message for every folder that could not be used.
    """
    users: dict[Path, list[str]] = {}
    for folder in dataset_dirs:
        users.setdefault(Path(folder).resolve(), [])
    for name, path in patch_files:
        folder = dataset_of_patch(path)
        if folder is not None:
            names = users.setdefault(folder.resolve(), [])
            if name not in names:
                names.append(name)
    targets: list[SnapTarget] = []
    problems: list[str] = []
    for folder, names in users.items():
        try:
            targets.append(read_target(folder, base_tags, names))
        except DatasetError as exc:
            problems.append(str(exc))
    return targets, problems
