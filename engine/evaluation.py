"""Scoring a plugin file on a dataset folder through the real pipeline.

Each photo goes through the base pass; the patch runs only if one of the base network's
`trigger_top_k` best classes (the top one for most patches) is one of its triggers, or (for a
slave patch, given its masters) a master patch identified one of its triggers, as it would
live; its answer is compared with the photo's tag.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralpatch.engine.base_network import BaseNetwork, BasePass
from neuralpatch.engine.class_map import tag_key
from neuralpatch.engine.dataset import Dataset
from neuralpatch.engine.errors import DatasetError, ImageError
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.patch_file import PatchFile
from neuralpatch.engine.patch_model import LinearPatch
from neuralpatch.engine.patch_system import PatchSystem

BATCH = 16


@dataclass(frozen=True)
class ScoredPhoto:
    """One photo as scored, for callers that look closer (the heat-map gallery)."""

    path: Path
    image: np.ndarray
    feature_map: np.ndarray  # (h, w, D), the base pass's last map
    probabilities: np.ndarray  # the base network's
    true_index: int
    predicted_index: int  # the patch's answer
    fired: bool  # the patch triggered


@dataclass
class EvalReport:
    """Counts over the scored photos; `confusion[true][pred]`, last column = not triggered."""

    outputs: list[str]  # output names in neuron order
    confusion: np.ndarray
    skipped: dict[str, str] = field(default_factory=dict)
    # (true neuron, answered neuron or -1 when not triggered, top probability) per photo
    answers: list[tuple[int, int, float]] = field(default_factory=list)

    @property
    def images(self) -> int:
        return int(self.confusion.sum())

    @property
    def not_triggered(self) -> int:
        return int(self.confusion[:, -1].sum())

    @property
    def triggered(self) -> int:
        return self.images - self.not_triggered

    @property
    def accuracy(self) -> float | None:
        """Right answers among photos that triggered the patch."""
        correct = np.trace(self.confusion[:, :-1])
        return float(correct / self.triggered) if self.triggered else None

    @property
    def end_to_end_accuracy(self) -> float | None:
        """Right answers among all photos: one that did not trigger counts as wrong."""
        return float(np.trace(self.confusion[:, :-1]) / self.images) if self.images else None

    def per_class_accuracy(self) -> list[float | None]:
        rows = self.confusion[:, :-1]
        return [
            float(rows[k, k] / rows[k].sum()) if rows[k].sum() else None
            for k in range(len(self.outputs))
        ]

    def to_dict(self) -> dict:
        return {
            "images": self.images,
            "triggered": self.triggered,
            "not_triggered": self.not_triggered,
            "accuracy": self.accuracy,
            "end_to_end_accuracy": self.end_to_end_accuracy,
            "outputs": self.outputs,
            "per_class_accuracy": dict(zip(self.outputs, self.per_class_accuracy(), strict=True)),
            "confusion": self.confusion.tolist(),
            "skipped": self.skipped,
        }


def evaluate(
    base: BaseNetwork,
    patch: PatchFile,
    dataset: Dataset,
    samples: Sequence[tuple[Path, str]] | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    stop: threading.Event | None = None,
    masters: PatchSystem | None = None,
    on_scored: Callable[[ScoredPhoto], None] | None = None,
) -> EvalReport:
    """Score `patch` on (photo, tag) pairs (default: every photo of the dataset).

    `masters`: the patches whose outputs may trigger this one; they run as the live cascade
    would, and the patch fires when one of them identifies one of its triggers.
    `on_scored` hears about every photo scored.
    """
    if samples is None:
        samples = [(p, c.tag) for c in dataset.outputs for p in c.images]
    neuron = {tag_key(o.tag): k for k, o in enumerate(patch.outputs)}  # n7 is n007
    usable = [(p, neuron[tag_key(t)]) for p, t in samples if tag_key(t) in neuron]
    if not usable:
        raise DatasetError(
            "no photo of this dataset belongs to an output of the patch "
            f"({', '.join(o.tag for o in patch.outputs)})",
            dataset.map_path,
        )
    k = len(patch.outputs)
    report = EvalReport([o.name for o in patch.outputs], np.zeros((k, k + 1), np.int64))
    triggers = {tag_key(t) for t in patch.triggers}
    model = LinearPatch(patch.weights, patch.bias)
    for start in range(0, len(usable), BATCH):
        if stop is not None and stop.is_set():
            break
        chunk, images, paths = [], [], []
        for path, label in usable[start : start + BATCH]:
            try:
                images.append(decode_image(path))
                chunk.append(label)
                paths.append(path)
            except ImageError as exc:
                report.skipped[str(path)] = exc.message
        if images:
            out = base.run(images)
            # The patch's own rule: its trigger_top_k best base classes, best first.
            top = np.argsort(-out.probabilities, axis=1, kind="stable")[:, : patch.trigger_top_k]
            probs = model.probabilities(out.features)
            predicted = probs.argmax(axis=1)
            for i, (label, guess) in enumerate(zip(chunk, predicted, strict=True)):
                fired = any(tag_key(base.classes.tags[j]) in triggers for j in top[i]) or (
                    masters is not None and _a_master_fires(masters, out, i, triggers)
                )
                report.confusion[label, guess if fired else k] += 1
                report.answers.append((label, int(guess) if fired else -1, float(probs[i, guess])))
                if on_scored is not None:
                    on_scored(
                        ScoredPhoto(
                            paths[i],
                            images[i],
                            out.feature_map[i],
                            out.probabilities[i],
                            int(label),
                            int(guess),
                            bool(fired),
                        )
                    )
        if on_progress:
            on_progress(min(start + BATCH, len(usable)), len(usable), "")
    return report


def _a_master_fires(masters: PatchSystem, out: BasePass, i: int, triggers: set[int]) -> bool:
    result = masters.classify(out.probabilities[i], out.features[i])
    return any(
        node.identified and tag_key(node.tag) in triggers
        for root in result.patches
        for _, node in root.walk()
    )
