"""Trigger coverage: the share of an output's photos that would wake the patch at all.

A patch runs only when the base network's top-1 class (or one of its `trigger_top_k` best, or
a master patch's answer) is one of its triggers, so a photo outside that set is a miss
whatever the patch learnt. Coverage is the ceiling of end-to-end accuracy; it is computed
from cached features through `BaseHead`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralpatch.engine.base_head import BaseHead
from neuralpatch.engine.dataset import Dataset
from neuralpatch.engine.number_text import count, fraction
from neuralpatch.engine.patch_system import PatchSystem

LOW_COVERAGE = 0.9  # below this `dataset check` lists a problem


def fired_mask(
    head: BaseHead,
    features: np.ndarray,
    triggers: Collection[str],
    masters: PatchSystem | None = None,
    top_k: int = 1,
) -> np.ndarray:
    """(N,) bool: which photos wake a patch with these triggers, as the live cascade would.

    `top_k` > 1 counts a photo as triggered when any of the base's k best classes is a
    trigger, as a patch with that `trigger_top_k` is triggered live; a master's output still
    counts only when it is that master's answer (docs/patch-system.md).
    """
    triggers = set(triggers)
    features = np.atleast_2d(features)
    if len(features) == 0:
        return np.zeros(0, bool)
    fired = np.array([bool(triggers.intersection(t)) for t in head.top_tags(features, top_k)])
    if masters is not None:
        probs = head.probabilities(features).astype(np.float32)
        for i in np.flatnonzero(~fired):
            result = masters.classify(probs[i], features[i])
            fired[i] = any(node.identified and node.tag in triggers for _, node in result.walk())
    return fired


@dataclass(frozen=True)
class OutputCoverage:
    tag: str
    name: str
    images: int  # photos with features (undecodable ones are not counted)
    covered: int

    @property
    def fraction(self) -> float | None:
        return self.covered / self.images if self.images else None


@dataclass(frozen=True)
class TriggerCoverage:
    outputs: list[OutputCoverage]
    top_k: int = 1

    @property
    def images(self) -> int:
        return sum(o.images for o in self.outputs)

    @property
    def covered(self) -> int:
        return sum(o.covered for o in self.outputs)

    @property
    def fraction(self) -> float | None:
        return self.covered / self.images if self.images else None

    def problems(self, threshold: float = LOW_COVERAGE) -> list[str]:
        """One line per output whose photos too often never reach the patch."""
        lines = []
        for o in self.outputs:
            if o.fraction is not None and o.fraction < threshold:
                lines.append(
                    f"trigger coverage{self._rule} of {o.name} ({o.tag}) is {o.fraction:.0%}: "
                    f"{count(o.images - o.covered)} of {count(o.images)} photos do not trigger "
                    "the patch "
                    "(`neuralpatch dataset suggest-triggers` finds triggers that do)"
                )
        return lines

    def lines(self) -> list[str]:
        """Human-readable summary, one line overall then one per output."""
        overall = "—" if self.fraction is None else f"{self.fraction:.1%}"
        out = [
            f"Trigger coverage{self._rule} {overall} ({fraction(self.covered, self.images)} "
            "photos trigger the patch)"
        ]
        for o in self.outputs:
            share = "—" if o.fraction is None else f"{o.fraction:.1%}"
            out.append(f"  {o.name}: {share} ({fraction(o.covered, o.images)})")
        return out

    @property
    def _rule(self) -> str:
        return f" (base top-{self.top_k})" if self.top_k > 1 else ""

    def to_dict(self) -> dict:
        return {
            "coverage": self.fraction,
            "covered": self.covered,
            "images": self.images,
            "top_k": self.top_k,
            "outputs": [
                {
                    "tag": o.tag,
                    "name": o.name,
                    "images": o.images,
                    "covered": o.covered,
                    "coverage": o.fraction,
                }
                for o in self.outputs
            ],
        }


def trigger_coverage(
    head: BaseHead,
    dataset: Dataset,
    features: Mapping[Path, np.ndarray],
    triggers: Sequence[str] | None = None,
    masters: PatchSystem | None = None,
    top_k: int = 1,
) -> TriggerCoverage:
    """Coverage of each output of `dataset` by `triggers` (default: the dataset's own)."""
    triggers = dataset.triggers if triggers is None else triggers
    outputs = []
    for category in dataset.outputs:
        paths = [p for p in category.images if p in features]
        covered = 0
        if paths:
            stacked = np.stack([features[p] for p in paths])
            covered = int(fired_mask(head, stacked, triggers, masters, top_k).sum())
        outputs.append(OutputCoverage(category.tag, category.name, len(paths), covered))
    return TriggerCoverage(outputs, top_k)
