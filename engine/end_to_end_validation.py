"""Validation as `eval --split val` scores it: a photo that does not trigger the patch is a miss.

The trainer validates on cached features; which photos trigger comes from `BaseHead` (the base
network's own fc on those features), so the figure training shows is the one `eval` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralpatch.engine.evaluation import EvalReport
from neuralpatch.engine.number_text import columns, count, fraction
from neuralpatch.engine.patch_model import LinearPatch
from neuralpatch.engine.safe_text import printable


@dataclass
class Validation:
    """The held-out split scored end to end; `loss` is over the photos that trigger."""

    report: EvalReport
    loss: float | None
    wrong: list[int]  # positions (in the validation split) of the photos not answered right
    guesses: np.ndarray | None = None  # per photo: the neuron answered, K = did not trigger

    @property
    def end_to_end(self) -> float | None:
        return self.report.end_to_end_accuracy

    @property
    def when_triggered(self) -> float | None:
        return self.report.accuracy

    def to_dict(self) -> dict:
        report = self.report
        return {
            "end_to_end_accuracy": self.end_to_end,
            "accuracy_when_triggered": self.when_triggered,
            "images": report.images,
            "triggered": report.triggered,
            "loss": self.loss,
            "confusion": report.confusion.tolist(),
        }


def validate_end_to_end(
    model: LinearPatch,
    features: np.ndarray,
    labels: np.ndarray,
    fired: np.ndarray,
    output_names: list[str],
) -> Validation:
    """Confusion matrix (last column: did not trigger), loss and misses of the split."""
    k = len(output_names)
    confusion = np.zeros((k, k + 1), np.int64)
    if len(labels) == 0:
        return Validation(EvalReport(output_names, confusion), None, [])
    probs = model.probabilities(features)
    guesses = np.where(fired, probs.argmax(axis=1), k)
    np.add.at(confusion, (labels, guesses), 1)
    loss = None
    if fired.any():
        picked = probs[fired, labels[fired]]
        loss = float(-np.log(np.maximum(picked, 1e-12)).mean())
    wrong = [int(i) for i in np.flatnonzero(guesses != labels)]
    return Validation(EvalReport(output_names, confusion), loss, wrong, guesses)


def validation_lines(validation: Validation, paths: list[Path]) -> list[str]:
    """What `eval` prints, for the validation split: both accuracies, per class, the
    confusion matrix (last column: did not trigger) and the photos not answered right."""
    report = validation.report
    lines = [
        f"validation: end to end {share(validation.end_to_end)}, when triggered "
        f"{share(validation.when_triggered)} ({fraction(report.triggered, report.images)} "
        "triggered)",
        *report_lines(report),
    ]
    if validation.wrong:
        lines.append(f"  misclassified ({count(len(validation.wrong))}):")
        for i in validation.wrong:
            lines.append(f"    {paths[i]}")
    return lines


def report_lines(report: EvalReport) -> list[str]:
    """Per-class accuracy (when triggered, end to end) and the confusion matrix (rows: true,
    last column: did not trigger) as aligned text, as `eval` and the app print them."""
    names = [printable(name) for name in report.outputs]  # escaped before measuring
    per_class = [["per class", "triggered", "end to end"]] + [
        [name, share(acc), share(e2e)]
        for name, acc, e2e in zip(
            names, report.per_class_accuracy(), per_class_end_to_end(report), strict=True
        )
    ]
    k = len(names)
    confusion = [["", *map(str, range(k)), "-"]] + [
        [name, *map(count, row)] for name, row in zip(names, report.confusion, strict=True)
    ]
    return [
        *("  " + line for line in columns(per_class, right=(1, 2))),
        "  confusion (rows: true, columns: predicted, -: did not trigger)",
        *("  " + line for line in columns(confusion, right=range(1, k + 2))),
    ]


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def per_class_end_to_end(report: EvalReport) -> list[float | None]:
    """Per output: right answers among all its photos (untriggered ones count as wrong)."""
    rows = report.confusion
    return [
        float(rows[k, k] / rows[k].sum()) if rows[k].sum() else None
        for k in range(len(report.outputs))
    ]


def per_output_json(report: EvalReport, tags: list[str]) -> dict:
    """`eval --json`'s per-class keys, one entry per output even when two share a name.

    `per_output` lists every output in neuron order: {tag, name, images, accuracy (when
    triggered), end_to_end_accuracy}. `per_class_accuracy` stays an object keyed by display
    name (as documented before); a name that several outputs share is keyed `name (tag)`
    for each of them, so no entry overwrites another.
    """
    names = report.outputs
    when, e2e = report.per_class_accuracy(), per_class_end_to_end(report)
    shared = {n for n in names if names.count(n) > 1}
    keys = [f"{n} ({t})" if n in shared else n for n, t in zip(names, tags, strict=True)]
    return {
        "per_class_accuracy": dict(zip(keys, when, strict=True)),
        "per_output": [
            {
                "tag": tag,
                "name": name,
                "images": int(report.confusion[k].sum()),
                "accuracy": when[k],
                "end_to_end_accuracy": e2e[k],
            }
            for k, (tag, name) in enumerate(zip(tags, names, strict=True))
        ],
    }
