"""What teach mode says about one frame and one label: the taught patch's outputs, its answer
on a frame (with the end-to-end rule for "was it right"), and a labelled photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TeachOutput:
    tag: str
    name: str
    background: bool = False


@dataclass(frozen=True)
class TeachAnswer:
    """The taught patch on one frame. It only answers for real when `triggered` (the base
    network's top class is one of its triggers); `probabilities` are shown either way."""

    outputs: tuple[TeachOutput, ...]
    probabilities: np.ndarray
    triggered: bool

    @property
    def index(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def abstained(self) -> bool:
        return self.outputs[self.index].background

    def prediction(self) -> dict | None:
        """{tag, name, probability}, or None when it did not trigger or abstained."""
        if not self.triggered or self.abstained:
            return None
        o = self.outputs[self.index]
        return {"tag": o.tag, "name": o.name, "probability": float(self.probabilities[self.index])}

    def agrees(self, output: int) -> bool:
        """Was this answer right for a frame labelled `output`? End to end: a category frame
        the patch did not trigger on is a miss; a background frame it stayed quiet on is a hit."""
        if self.outputs[output].background:
            return not self.triggered or self.abstained
        return self.triggered and self.index == output


@dataclass
class LabelRecord:
    """A labelled photo of the dataset; `right` is None for photos labelled before the session."""

    path: Path
    output: int
    features: np.ndarray
    right: bool | None = None
