"""What `dataset check` finds beyond the map: photos that do not decode, class imbalance and
trigger coverage, all from one pass through the feature cache (a second check is instant).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralpatch.engine.base_head import BaseHead
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import Dataset
from neuralpatch.engine.feature_cache import FeatureCache
from neuralpatch.engine.number_text import count
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.trigger_coverage import TriggerCoverage, trigger_coverage

MAX_IMBALANCE = 3.0  # largest / smallest output: above this the small class is under-learnt
# Picture formats people drop into a folder that the loader does not read: named, not hidden.
UNSUPPORTED_IMAGES = frozenset(
    {".gif", ".tif", ".tiff", ".heic", ".heif", ".avif", ".jxl", ".svg", ".ico", ".psd"}
    | {".raw", ".cr2", ".nef", ".arw", ".dng"}
)
SHOWN_NAMES = 5


@dataclass
class DatasetReport:
    dataset: Dataset
    features: dict[Path, np.ndarray]
    failed: dict[Path, str]  # photos that could not be read or decoded, with the reason
    coverage: TriggerCoverage
    problems: list[str] = field(default_factory=list)  # the dataset's, then these

    def to_dict(self) -> dict:
        root = self.dataset.root
        return {
            "trigger_coverage": self.coverage.to_dict(),
            "unreadable": [
                {"file": _relative(path, root), "reason": reason}
                for path, reason in self.failed.items()
            ],
        }


def check_dataset(
    base: BaseNetwork,
    dataset: Dataset,
    masters: PatchSystem | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    stop: threading.Event | None = None,
    top_k: int = 1,
) -> DatasetReport:
    """Decode every photo (through the cache), then measure coverage and balance; a photo is
    covered as a patch with this `trigger_top_k` would be triggered by it."""
    paths = [p for c in dataset.outputs for p in c.images]
    found = FeatureCache(base).features_for(paths, on_progress, stop)
    head = BaseHead.for_base(base)
    coverage = trigger_coverage(head, dataset, found.features, None, masters, top_k)
    problems = list(dataset.problems)
    problems += [
        f"{_relative(path, dataset.root)}: {reason} (left out of training)"
        for path, reason in found.failed.items()
    ]
    problems += unsupported_problems(dataset.root)
    problems += imbalance_problems(coverage)
    problems += coverage.problems()
    return DatasetReport(dataset, found.features, dict(found.failed), coverage, problems)


def unsupported_problems(root: Path) -> list[str]:
    """One line naming the photos left out because their type is not read."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            Path(folder) / name
            for name in sorted(files)
            if not name.startswith(".") and Path(name).suffix.lower() in UNSUPPORTED_IMAGES
        ]
    if not found:
        return []
    kinds = Counter(p.suffix.lower() for p in found)
    names = ", ".join(_relative(p, root) for p in found[:SHOWN_NAMES])
    more = f" and {count(len(found) - SHOWN_NAMES)} more" if len(found) > SHOWN_NAMES else ""
    counts = ", ".join(f"{kind}: {count(n)}" for kind, n in sorted(kinds.items()))
    return [
        f"{count(len(found))} pictures of a type that is not read ({counts}) are left out: "
        f"{names}{more}; convert them to JPEG or PNG"
    ]


def imbalance_problems(coverage: TriggerCoverage) -> list[str]:
    counts = [(o.images, o.name) for o in coverage.outputs if o.images]
    if len(counts) < 2:
        return []
    (small, small_name), (large, large_name) = min(counts), max(counts)
    if large <= MAX_IMBALANCE * small:
        return []
    return [
        f"class imbalance: {large_name} has {count(large)} photos, {small_name} only "
        f"{count(small)} "
        f"({large / small:.1f}×, over {MAX_IMBALANCE:g}×); the small class will be "
        "under-learnt — add photos of it"
    ]


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
