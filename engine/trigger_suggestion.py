"""Choosing trigger categories from the data: the base classes the photos actually get.

A map that lists only the outputs' own tags often leaves most photos untriggered (the base
network calls a daisy a daisy, but an aster a "pot" or a "bee"). The fix is the smallest set
of base categories that reaches a target coverage for every output, found greedily (set cover)
from each photo's base top-1 (or top-k) computed from cached features.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.base_head import BaseHead
from neuralpatch.engine.dataset import Dataset
from neuralpatch.engine.errors import DatasetError
from neuralpatch.engine.trigger_coverage import TriggerCoverage, trigger_coverage

DEFAULT_COVERAGE = 0.98


@dataclass(frozen=True)
class SuggestedTrigger:
    tag: str
    name: str
    covers: dict[str, int]  # output name -> photos this category newly covers

    @property
    def photos(self) -> int:
        return sum(self.covers.values())


@dataclass(frozen=True)
class TriggerSuggestion:
    target: float
    added: list[SuggestedTrigger]
    before: TriggerCoverage
    after: TriggerCoverage

    @property
    def triggers(self) -> list[str]:
        return [s.tag for s in self.added]

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "added": [
                {"tag": s.tag, "name": s.name, "photos": s.photos, "covers": s.covers}
                for s in self.added
            ],
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
        }


def suggest_triggers(
    head: BaseHead,
    dataset: Dataset,
    features: Mapping[Path, np.ndarray],
    base_names: Mapping[str, str],
    target: float = DEFAULT_COVERAGE,
    top_k: int = 1,
) -> TriggerSuggestion:
    """Base categories to add so every output's coverage reaches `target` (greedy set cover).

    Each round adds the category that covers the most still-needed photos of the outputs
    under target (ties: more photos overall, then the tag), until all reach it or no base
    category helps. Tags already in the map (as any row) are never suggested again.
    """
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target coverage must be in (0, 1], got {target}")
    before = trigger_coverage(head, dataset, features, top_k=top_k)
    in_map = {int(c.tag[1:]) for c in dataset.categories}
    triggers = set(dataset.triggers)
    photos: dict[str, list[set[str]]] = {}  # output name -> candidate tags of each uncovered
    needed: dict[str, int] = {}
    for category, cov in zip(dataset.outputs, before.outputs, strict=True):
        paths = [p for p in category.images if p in features]
        tops = head.top_tags(np.stack([features[p] for p in paths]), top_k) if paths else []
        uncovered = [set(t) for t in tops if not triggers.intersection(t)]
        photos[category.name] = [{t for t in s if int(t[1:]) not in in_map} for s in uncovered]
        needed[category.name] = max(0, int(np.ceil(target * cov.images - 1e-9)) - cov.covered)
    added: list[SuggestedTrigger] = []
    while any(needed.values()):
        gains: Counter[str] = Counter()
        totals: Counter[str] = Counter()
        for name, sets in photos.items():
            counts = Counter(t for s in sets for t in s)
            for tag, n in counts.items():
                gains[tag] += min(n, needed[name])
                totals[tag] += n
        best = max(gains, key=lambda t: (gains[t], totals[t], t), default=None)
        if best is None or gains[best] == 0:
            break  # the remaining photos' classes cannot be added (already rows of the map)
        covers = {}
        for name, sets in photos.items():
            hit = sum(best in s for s in sets)
            if hit:
                covers[name] = hit
                needed[name] = max(0, needed[name] - hit)
                photos[name] = [s for s in sets if best not in s]
        added.append(SuggestedTrigger(best, base_names.get(best, best), covers))
    after = trigger_coverage(
        head, dataset, features, dataset.triggers + [s.tag for s in added], top_k=top_k
    )
    return TriggerSuggestion(target, added, before, after)


def write_triggers(dataset: Dataset, added: list[SuggestedTrigger]) -> Path:
    """Append one `tag index name` row per trigger to the map, atomically.

    The file's own bytes (rows, order, comments, line endings) stay as they are; new rows
    take the next free indices after the largest one in use.
    """
    path = dataset.map_path
    if not added:
        return path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror}", path) from exc
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    if data and not data.endswith((b"\n", b"\r")):
        data += newline
    index = max((c.index for c in dataset.categories), default=0)
    rows = []
    for n, s in enumerate(added, start=1):
        name = "_".join(s.name.split()) or s.tag
        rows.append(f"{s.tag} {index + n} {name}".encode() + newline)
    return write_atomic(path, data + b"".join(rows))
