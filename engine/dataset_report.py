"""What `dataset check` finds beyond the map: photos that do not decode, class imbalance and
trigger coverage, all from one pass through the feature cache (a second check is instant).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralpatch.engine.base_head import BaseHead
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import Dataset
from neuralpatch.engine.feature_cache import FeatureCache
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.trigger_coverage import TriggerCoverage, trigger_coverage

MAX_IMBALANCE = 3.0  # largest / smallest output: above this the small class is under-learnt


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
) -> DatasetReport:
    """Decode every photo (through the cache), then measure coverage and balance."""
    paths = [p for c in dataset.outputs for p in c.images]
    found = FeatureCache(base).features_for(paths, on_progress, stop)
    coverage = trigger_coverage(BaseHead.for_base(base), dataset, found.features, masters=masters)
    problems = list(dataset.problems)
    problems += [
        f"{_relative(path, dataset.root)}: {reason} (left out of training)"
        for path, reason in found.failed.items()
    ]
    problems += imbalance_problems(coverage)
    problems += coverage.problems()
    return DatasetReport(dataset, found.features, dict(found.failed), coverage, problems)


def imbalance_problems(coverage: TriggerCoverage) -> list[str]:
    counts = [(o.images, o.name) for o in coverage.outputs if o.images]
    if len(counts) < 2:
        return []
    (small, small_name), (large, large_name) = min(counts), max(counts)
    if large <= MAX_IMBALANCE * small:
        return []
    return [
        f"class imbalance: {large_name} has {large} photos, {small_name} only {small} "
        f"({large / small:.1f}×, over {MAX_IMBALANCE:g}×); the small class will be "
        "under-learnt — add photos of it"
    ]


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
