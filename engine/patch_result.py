"""What the patch system answers for one image: the base top-k and a tree of patch results.

A root of the tree is a patch the base network's identified class triggered; the children of
a result are the patches its output triggered. `to_dict()` gives the JSON that
`neuralpatch classify --patches` prints (keys documented in docs/patch-system.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuralpatch.engine.base_network import Prediction

if TYPE_CHECKING:
    from neuralpatch.engine.loaded_patch import LoadedPatch


@dataclass(eq=False)
class PatchResult:
    """One patch that ran: its top output, all its probabilities, and what it triggered."""

    loaded: LoadedPatch
    trigger: str  # the tag that woke it (the base class, or its master's output)
    trigger_name: str
    index: int  # its top output neuron
    probability: float
    probabilities: np.ndarray  # (K,), one per output, in the patch's output order
    elapsed_ms: float = 0.0  # its share of its block's matmul and read-out (split evenly)
    children: list[PatchResult] = field(default_factory=list)
    identified: bool = True  # probability reached the minimum, so it could trigger others
    abstained: bool = False  # under its min_confidence, or its background output: "none"

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def path(self) -> Path:
        return self.loaded.path

    @property
    def tag(self) -> str:
        return self.loaded.patch.outputs[self.index].tag

    @property
    def output_name(self) -> str:
        return self.loaded.patch.outputs[self.index].name

    @property
    def answer_name(self) -> str:
        """What to show as its answer: "none" when it abstained (unsure, or background)."""
        return "none" if self.abstained else self.output_name

    @property
    def icon_png(self) -> bytes | None:
        return self.loaded.patch.icon_png

    @property
    def icon_rgba(self) -> np.ndarray | None:
        return self.loaded.icon_rgba

    def abstain_below(self, min_confidence: float) -> None:
        """Judge this result and those below with another threshold (a command-line
        override) instead of the patch's own. An answer that abstains wakes nothing, so its
        slaves are dropped; one the override lets answer keeps none (they never ran)."""
        self.abstained = self.probability < min_confidence
        if self.abstained:
            self.identified, self.children = False, []
        for child in self.children:
            child.abstain_below(min_confidence)

    def walk(self, depth: int = 0) -> Iterator[tuple[int, PatchResult]]:
        """This result and every one below it, depth first, with their depth."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def to_dict(self) -> dict[str, Any]:
        outputs = self.loaded.patch.outputs
        return {
            "name": self.name,
            "file": str(self.path),
            "trigger": {"tag": self.trigger, "name": self.trigger_name},
            "output": {
                "index": self.index,
                "tag": self.tag,
                "name": self.output_name,
                "probability": self.probability,
            },
            "identified": self.identified,
            "abstained": self.abstained,
            "probabilities": [
                {"tag": o.tag, "name": o.name, "probability": float(p)}
                for o, p in zip(outputs, self.probabilities, strict=True)
            ],
            "icon": self.icon_png is not None,
            "elapsed_ms": self.elapsed_ms,
            "children": [c.to_dict() for c in self.children],
        }


@dataclass(eq=False)
class ImageResult:
    """The base network's top-k for one image, then the patches that ran, as a tree."""

    top: list[Prediction]
    identified: Prediction | None  # the base top-1 when it reached the minimum probability
    patches: list[PatchResult]  # the roots: patches the identified base class triggered
    elapsed_ms: float  # the whole patch system's time for this image (base pass excluded)

    def walk(self) -> Iterator[tuple[int, PatchResult]]:
        """Every patch result, depth first, with its depth (0 for a root)."""
        for root in self.patches:
            yield from root.walk()

    def abstain_below(self, min_confidence: float | None) -> None:
        """A command-line override of every patch's min_confidence (None: keep theirs)."""
        if min_confidence is not None:
            for root in self.patches:
                root.abstain_below(min_confidence)

    def fired(self) -> list[str]:
        """Names of the patches that ran, depth first."""
        return [r.name for _, r in self.walk()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "top": [asdict(p) for p in self.top],
            "identified": asdict(self.identified) if self.identified else None,
            "patches": [r.to_dict() for r in self.patches],
            "elapsed_ms": self.elapsed_ms,
        }
