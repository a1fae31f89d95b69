"""Accuracy against coverage when the patch may abstain (answer "none") below a confidence.

Raising a patch's `min_confidence` trades answers for accuracy: fewer photos get an answer,
and those that do are more often right. `eval` prints the figures at the patch's threshold
and a small table over thresholds so the trade can be chosen from data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neuralpatch.engine.evaluation import EvalReport

THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class RiskPoint:
    """What the patch does at one threshold: photos are answered, abstained or untriggered."""

    threshold: float
    images: int
    triggered: int
    answered: int
    correct: int

    @property
    def abstained(self) -> int:
        return self.triggered - self.answered

    @property
    def coverage(self) -> float | None:
        """Share of all photos that get an answer."""
        return self.answered / self.images if self.images else None

    @property
    def accuracy(self) -> float | None:
        """Right answers among the photos answered."""
        return self.correct / self.answered if self.answered else None

    @property
    def end_to_end(self) -> float | None:
        """Right answers among all photos (untriggered and abstained ones are misses)."""
        return self.correct / self.images if self.images else None

    def to_dict(self) -> dict:
        return {
            "min_confidence": self.threshold,
            "answered": self.answered,
            "abstained": self.abstained,
            "coverage": self.coverage,
            "accuracy": self.accuracy,
            "end_to_end_accuracy": self.end_to_end,
        }


def at_threshold(report: EvalReport, threshold: float) -> RiskPoint:
    triggered = [(t, g, p) for t, g, p in report.answers if g >= 0]
    answered = [(t, g) for t, g, p in triggered if p >= threshold]
    correct = sum(t == g for t, g in answered)
    return RiskPoint(threshold, len(report.answers), len(triggered), len(answered), correct)


def risk_coverage(report: EvalReport, thresholds: Sequence[float] = THRESHOLDS) -> list[RiskPoint]:
    return [at_threshold(report, t) for t in thresholds]
