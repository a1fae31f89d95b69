"""Pooled features of un-augmented photos, computed once and kept on disk.

The base network is frozen, so a photo's features only change when its bytes or the base
network change: the cache key is the SHA-256 of the file's content, in a folder per base
network fingerprint. A restart, a second patch trained on the same photos, or a cluster run
(`neuralpatch features --scheduler`, whose client writes what the workers computed) costs
nothing. Every entry is checksummed (engine/feature_entry.py): a damaged one is recomputed
and rewritten, never trained on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.feature_entry import read_entry, write_entry
from neuralpatch.engine.feature_pipeline import extract
from neuralpatch.engine.paths import cache_dir

Progress = Callable[[int, int, str], None]


@dataclass
class FeatureSet:
    """Features for the photos that decoded; `failed` names the ones that did not, and why."""

    features: dict[Path, np.ndarray] = field(default_factory=dict)
    failed: dict[Path, str] = field(default_factory=dict)
    computed: int = 0  # how many went through the base pass (the rest came from the cache)
    repaired: int = 0  # damaged cache entries found, recomputed and rewritten


def default_cache_folder(base: BaseNetwork) -> Path:
    return cache_dir("features", base.fingerprint)


class FeatureCache:
    """The on-disk cache of one base network, and the way to fill it for many photos.

    `workers`: decode processes for `features_for` (None: chosen by feature_pipeline; 0: a
    single helper thread).
    """

    def __init__(self, base: BaseNetwork, folder: Path | None = None, workers: int | None = None):
        self.base = base
        self.folder = folder or default_cache_folder(base)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.workers = workers

    def read(self, digest: str) -> np.ndarray | None:
        """The cached features of the photo whose SHA-256 is `digest`, if intact."""
        return read_entry(self.folder, digest, self.base.feature_dim)[0]

    def write(self, digest: str, vector: np.ndarray) -> bool:
        return write_entry(self.folder, digest, vector)

    def features_for(
        self,
        paths: Sequence[Path],
        on_progress: Progress | None = None,
        stop: threading.Event | None = None,
    ) -> FeatureSet:
        """Features of every photo in `paths`; undecodable ones are reported, not fatal.

        Runs the extraction pipeline (engine/feature_pipeline.py): cached photos are read,
        the others decoded in worker processes while the base pass runs on earlier batches.
        """
        result = FeatureSet()
        for item in extract(
            self.base,
            paths,
            cache_folder=self.folder,
            workers=self.workers,
            on_progress=on_progress,
            stop=stop,
        ):
            if item.error is not None:
                result.failed[item.path] = item.error
                continue
            result.features[item.path] = item.features
            result.computed += item.computed
            result.repaired += item.repaired
        return result
