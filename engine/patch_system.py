"""The patch system: the `.specialneurons` files in use, and classifying an image through them.

After the base pass, a patch runs when one of its trigger tags is identified: the base
network's top-1 class, or the top output of a patch that ran (master → slave, any depth).
Every patch reads the same pooled base features. The rules are in docs/patch-system.md.

All changes (`add`, `remove`, `refresh`, `load_dir`) go through one lock and end by building
a new immutable `PatchIndex` and swapping it in with a single assignment, so `classify` never
locks and never sees half a change: a camera thread classifies while the watcher reloads.
A file that cannot be used never replaces the version already running; it is listed in
`rejected` with the reason until it is fixed or deleted.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuralpatch.engine.classes import BaseClasses
from neuralpatch.engine.errors import NeuralpatchError, PatchFormatError, SettingError
from neuralpatch.engine.loaded_patch import LoadedPatch, decode_icon
from neuralpatch.engine.patch_events import PatchEvent, is_patch_file, status_changes
from neuralpatch.engine.patch_file import PatchFile, load_patch, patch_bytes
from neuralpatch.engine.patch_index import PatchIndex, build_index
from neuralpatch.engine.patch_pins import PINS_NAME, Pins, is_pins_file, read_pins
from neuralpatch.engine.patch_result import ImageResult

if TYPE_CHECKING:
    from neuralpatch.engine.base_network import BaseNetwork, BasePass

Signature = tuple[int, int, int, int]  # mtime_ns, size, inode, ctime_ns


class PatchSystem:
    """Patches loaded for one base network, indexed by trigger tag."""

    def __init__(
        self,
        base_fingerprint: str,
        feature_dim: int,
        base_classes: BaseClasses,
        min_probability: float = 0.0,
    ):
        if not 0.0 <= min_probability <= 1.0:
            raise SettingError("the minimum probability must be in [0, 1]")
        self.base_fingerprint, self.feature_dim = base_fingerprint, feature_dim
        self.classes = base_classes
        self._lock = threading.Lock()
        self._loaded: dict[Path, LoadedPatch] = {}
        self._rejected: dict[Path, tuple[str, Signature | None]] = {}
        self._pins: dict[Path, Pins] = {}  # by folder, read by load_dir and on their change
        self._index = build_index([], base_classes, min_probability)

    @classmethod
    def for_base(cls, base: BaseNetwork, min_probability: float = 0.0) -> PatchSystem:
        return cls(base.fingerprint, base.feature_dim, base.classes, min_probability)

    # -- reading: lock-free, from the current snapshot ---------------------------------
    @property
    def index(self) -> PatchIndex:
        """The current immutable snapshot; hold on to it to see one consistent state."""
        return self._index

    @property
    def patches(self) -> tuple[LoadedPatch, ...]:
        """Every loaded patch by path; `disabled` says why one does not run."""
        return self._index.patches

    @property
    def rejected(self) -> dict[Path, str]:
        """Files that cannot be used, with the reason (a previous version may still run)."""
        return {path: reason for path, (reason, _) in sorted(self._rejected.items())}

    @property
    def pins(self) -> tuple[Pins, ...]:
        """The pins of every folder loaded (`patch_pins.py`): which file of a name runs."""
        return tuple(self._pins.values())

    def output_tags(self) -> dict[str, str]:
        """Tag → display name of every output of a running patch: what can wake a slave."""
        return {
            o.tag: o.name
            for loaded in self.patches
            if loaded.disabled is None
            for o in loaded.patch.outputs
        }

    @property
    def min_probability(self) -> float:
        return self._index.min_probability

    def set_min_probability(self, value: float) -> None:
        """Change how sure the base network or a master must be before anything triggers."""
        if not 0.0 <= value <= 1.0:
            raise SettingError("the minimum probability must be in [0, 1]")
        with self._lock:
            self._index = replace(self._index, min_probability=value)

    def classify(
        self, probabilities: np.ndarray, features: np.ndarray, top_k: int = 5
    ) -> ImageResult:
        """The patch tree for one image, from its row of a BasePass (probabilities, features)."""
        if np.shape(features) != (self.feature_dim,):
            raise ValueError(
                f"expected {self.feature_dim} features for one image, got shape "
                f"{np.shape(features)}"
            )
        return self._index.classify(probabilities, features, top_k)

    def classify_pass(self, base_pass: BasePass, top_k: int = 5) -> list[ImageResult]:
        """The patch tree of every image of a base pass, all with the same snapshot."""
        index = self._index
        return [
            index.classify(p, f, top_k)
            for p, f in zip(base_pass.probabilities, base_pass.features, strict=True)
        ]

    def refusal(self, patch: PatchFile) -> str | None:
        """Why this base network cannot run `patch`, or None when it can."""
        problems = []
        if patch.base_fingerprint != self.base_fingerprint:
            problems.append(
                f"it was trained on a different base network (fingerprint "
                f"{patch.base_fingerprint}, the running base network is "
                f"{self.base_fingerprint})"
            )
        if patch.feature_dim != self.feature_dim:
            problems.append(
                f"it reads {patch.feature_dim} features but the base network "
                f"gives {self.feature_dim}"
            )
        return "; ".join(problems) + "; retrain it on this base network" if problems else None

    # -- changing: one lock, one new snapshot per call ---------------------------------
    def add(self, path: str | Path, patch: PatchFile) -> list[PatchEvent]:
        """Run an in-memory patch under `path` (refused with a reason if it does not fit).

        It must pass every check a file read from disk passes (finite, bounded weights,
        valid tags and names), since it runs the same way.
        """
        return self.add_all({path: patch})

    def add_all(self, patches: Mapping[str | Path, PatchFile]) -> list[PatchEvent]:
        """Like `add` for many patches at once: one index build, one swap."""
        changes = [self._admit_new(_absolute(path), patch) for path, patch in patches.items()]
        with self._lock:
            return self._commit(changes)

    def remove(self, path: str | Path) -> list[PatchEvent]:
        with self._lock:
            return self._commit([("remove", _absolute(path), None)])

    def load_dir(self, folder: str | Path) -> list[PatchEvent]:
        """Bring the system in line with the `*.specialneurons` files directly in `folder`."""
        folder = _absolute(folder)
        if not folder.is_dir():
            raise NeuralpatchError("the patch folder does not exist or is not a folder", folder)
        try:
            on_disk = {folder / name for name in os.listdir(folder) if is_patch_file(name)}
        except OSError as exc:
            raise NeuralpatchError(f"cannot list the patch folder: {exc.strerror}", folder) from exc
        with self._lock:
            known = {p for p in [*self._loaded, *self._rejected] if p.parent == folder}
            return self._refresh(on_disk | known | {folder / PINS_NAME})

    def refresh(self, paths: Iterable[str | Path]) -> list[PatchEvent]:
        """Look at these files again: load new or changed ones, drop deleted ones.

        A file whose size, time and inode are those already seen is skipped, so a burst of
        file-system events about one unchanged file costs nothing. A folder's pins file
        (`patch_pins.PINS_NAME`) among them is read again.
        """
        with self._lock:
            return self._refresh(paths)

    # -- internals (called with the lock held) -----------------------------------------
    def _refresh(self, paths: Iterable[str | Path]) -> list[PatchEvent]:
        paths = sorted({_absolute(p) for p in paths})
        pins = {p.parent: read_pins(p.parent) for p in paths if is_pins_file(p)}
        repin = any(self._pins.get(folder) != value for folder, value in pins.items())
        changes = [self._look_at(path) for path in paths if not is_pins_file(path)]
        return self._commit(
            [c for c in changes if c is not None], self._pins | pins if repin else None
        )

    def _look_at(self, path: Path) -> tuple[str, Path, Any] | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return ("remove", path, None)
        except OSError as exc:
            return ("reject", path, (f"cannot read: {exc.strerror}", None))
        if not stat.S_ISREG(st.st_mode):
            return ("reject", path, ("not a regular file", None))
        # ctime too: a chmod that makes a refused file readable changes only that.
        signature = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)
        current, rejected = self._loaded.get(path), self._rejected.get(path)
        if rejected is not None and rejected[1] == signature:
            return None
        if rejected is None and current is not None and current.signature == signature:
            return None
        try:
            patch = load_patch(path)
        except PatchFormatError as exc:
            if not path.exists():  # deleted while we read it
                return ("remove", path, None)
            return ("reject", path, (exc.message, signature))
        return self._admit(path, patch, signature)

    def _admit_new(self, path: Path, patch: PatchFile) -> tuple[str, Path, Any]:
        """`_admit` for a patch that did not come from a file: check it as loading would."""
        try:
            patch_bytes(patch, path)
        except PatchFormatError as exc:
            return ("reject", path, (exc.message, None))
        return self._admit(path, patch, None)

    def _admit(
        self, path: Path, patch: PatchFile, signature: Signature | None
    ) -> tuple[str, Path, Any]:
        reason = self.refusal(patch)
        if reason is not None:
            return ("reject", path, (reason, signature))
        return ("load", path, LoadedPatch(path, patch, decode_icon(patch.icon_png), signature))

    def _commit(
        self, changes: list[tuple[str, Path, Any]], pins: dict[Path, Pins] | None = None
    ) -> list[PatchEvent]:
        """Apply `changes` (and new `pins`, by folder) with one index build and one swap."""
        # Copies, swapped in at the end: readers iterate these dicts without the lock.
        loaded, rejected = dict(self._loaded), dict(self._rejected)
        events: list[PatchEvent] = []
        changed = False
        for kind, path, value in changes:
            previous = loaded.get(path)
            if kind == "load":
                loaded[path] = value
                changed = True
                rejected.pop(path, None)
                events.append(PatchEvent("replaced" if previous else "loaded", path, value.name))
            elif kind == "reject":
                reason, signature = value
                rejected[path] = (reason, signature)
                if previous is not None:
                    reason += "; the previous version keeps running"
                events.append(PatchEvent("rejected", path, previous and previous.name, reason))
            else:
                was_rejected = rejected.pop(path, None)
                changed |= loaded.pop(path, None) is not None
                if previous is not None or was_rejected is not None:
                    events.append(PatchEvent("removed", path, previous and previous.name))
        if changed or pins is not None:  # build first: if that fails, nothing has changed
            pins = self._pins if pins is None else pins
            pinned = {path: name for p in pins.values() for path, name in p.paths().items()}
            index = build_index(
                loaded.values(), self.classes, self.min_probability, self._index, pinned
            )
            before = {p.path: p.disabled for p in self._index.patches}
            self._loaded, self._index, self._pins = loaded, index, pins
            events += status_changes(before, index)
        self._rejected = rejected
        return events


def _absolute(path: str | Path) -> Path:
    """Absolute without resolving links, so watcher paths and listed paths compare equal."""
    return Path(os.path.abspath(path))
