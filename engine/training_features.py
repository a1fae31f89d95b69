"""A training run's photos turned into what steps and validation read: one feature array.

The extraction pipeline hands out features in input order; they are written straight into
one preallocated (N, D) array, never held as a dict of per-photo vectors first (at 120k
photos that would be a second 600 MB copy). Validation photos come first, so the validation
split is a view of the first rows, scored without restacking.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralpatch.engine.atomic import clean_stale_temps
from neuralpatch.engine.base_head import BaseHead
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import Dataset, Sample
from neuralpatch.engine.feature_cache import FeatureCache
from neuralpatch.engine.feature_matrix import FeatureMatrix, Split
from neuralpatch.engine.feature_pipeline import extract
from neuralpatch.engine.held_out import HeldOut
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.trigger_coverage import TriggerCoverage, fired_mask, trigger_coverage

Progress = Callable[[int, int, str], None]


def training_features(
    base: BaseNetwork,
    paths: Sequence[Path],
    on_progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> tuple[FeatureMatrix, dict[Path, str]]:
    """The features of the photos that decoded, in the order given, and why the others not.

    Leftover temp files of a run killed while it wrote cache entries are removed first.
    """
    cache = FeatureCache(base)
    clean_stale_temps(cache.folder, subfolders=True)
    rows = np.empty((len(paths), base.feature_dim), np.float32)  # pages are touched as filled
    kept: list[Path] = []
    failed: dict[Path, str] = {}
    found = extract(
        base,
        paths,
        cache_folder=cache.folder,
        workers=cache.workers,
        on_progress=on_progress,
        stop=stop,
    )
    for item in found:
        if item.error is not None or item.features is None:
            failed[item.path] = item.error or "no features"
            continue
        rows[len(kept)] = item.features
        kept.append(item.path)
    matrix = FeatureMatrix(rows[: len(kept)], kept, {path: i for i, path in enumerate(kept)})
    return matrix, failed


@dataclass
class Prepared:
    """Everything `Trainer.prepare` computes once: features, splits, coverage, held-out set."""

    features: FeatureMatrix
    failed: dict[Path, str]
    train: Split
    val: Split
    coverage: TriggerCoverage
    held_out: HeldOut


def prepare_run(
    base: BaseNetwork,
    dataset: Dataset,
    splits: tuple[list[Sample], list[Sample]],
    masters: PatchSystem | None = None,
    top_k: int = 1,
    on_progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Prepared:
    """Features of every photo of the (validation, training) `splits` (undecodable ones
    dropped), the splits over them, which photos trigger the patch, and the validation split
    stacked for scoring. `top_k`: the patch triggers on the base's k best classes."""
    val_samples, train_samples = splits
    paths = [p for p, _ in val_samples + train_samples]
    features, failed = training_features(base, paths, on_progress, stop)
    val, train = Split.of(val_samples, features), Split.of(train_samples, features)
    assert np.array_equal(val.rows, np.arange(len(val)))  # validation photos come first
    head = BaseHead.for_base(base)
    coverage = trigger_coverage(head, dataset, features, None, masters, top_k)
    rows = features.rows[: len(val)]
    fired = fired_mask(head, rows, dataset.triggers, masters, top_k)
    names = [c.name for c in dataset.outputs]
    held_out = HeldOut(rows, val.labels, fired, names, [p for p, _ in val.samples])
    return Prepared(features, failed, train, val, coverage, held_out)
