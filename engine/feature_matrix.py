"""The features of a training run as one array, so a step costs the same at 120k photos as
at 1k: a batch is a fancy index into it, validation one matrix product over a stacked split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralpatch.engine.dataset import Sample


@dataclass
class FeatureMatrix:
    """`rows[i]` are the features of `paths[i]`; `row_of` finds a photo's row."""

    rows: np.ndarray  # (N, D) float32
    paths: list[Path]
    row_of: dict[Path, int]

    @classmethod
    def stack(cls, features: Mapping[Path, np.ndarray], dim: int) -> FeatureMatrix:
        """One array from a photo → vector mapping (filled in place: no second copy)."""
        rows = np.empty((len(features), dim), np.float32)
        paths = list(features)
        for i, path in enumerate(paths):
            rows[i] = features[path]
        return cls(rows, paths, {path: i for i, path in enumerate(paths)})

    def __getitem__(self, path: Path) -> np.ndarray:
        return self.rows[self.row_of[path]]

    def __contains__(self, path: object) -> bool:
        return path in self.row_of

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class Split:
    """Samples of one split with their matrix rows and labels as arrays."""

    samples: list[Sample]
    rows: np.ndarray  # (n,) int64 into FeatureMatrix.rows
    labels: np.ndarray  # (n,) int64 output neurons

    @classmethod
    def of(cls, samples: Sequence[Sample], matrix: FeatureMatrix) -> Split:
        """The samples that have features, in order."""
        kept = [s for s in samples if s[0] in matrix]
        rows = np.fromiter((matrix.row_of[p] for p, _ in kept), np.int64, len(kept))
        labels = np.fromiter((k for _, k in kept), np.int64, len(kept))
        return cls(kept, rows, labels)

    def __len__(self) -> int:
        return len(self.samples)
