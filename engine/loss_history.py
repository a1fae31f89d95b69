"""The loss curve of a run in bounded memory: a long run costs no more to keep or save.

Every loss lands in a bucket of `stride` consecutive steps; a full bucket becomes one point
(its mean). When `capacity` points are held, neighbours are averaged in pairs and the stride
doubles, so the curve keeps its shape at any length. The last `ROLLING_WINDOW` losses are
kept as they are, for the rolling loss. Everything is float32-representable, so a snapshot
round trip (see `to_saved` / `from_saved`) restores it exactly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

ROLLING_WINDOW = 20
CAPACITY = 2048
MAX_STRIDE = 1 << 62


class LossHistory:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self.stride = 1
        self.count = 0  # every loss ever added
        self.means: list[float] = []  # one per full bucket of `stride` steps
        self.partial_sum = 0.0  # the bucket being filled
        self.partial_count = 0
        self.recent: deque[float] = deque(maxlen=ROLLING_WINDOW)

    def add(self, loss: float) -> None:
        self.count += 1
        self.recent.append(loss)
        self.partial_sum += loss
        self.partial_count += 1
        if self.partial_count == self.stride:
            self.means.append(_f32(self.partial_sum / self.stride))
            self.partial_sum, self.partial_count = 0.0, 0
            if len(self.means) >= self.capacity:
                pairs = np.asarray(self.means[: len(self.means) // 2 * 2], np.float64)
                self.means = [_f32(v) for v in pairs.reshape(-1, 2).mean(axis=1)]
                self.stride *= 2

    @property
    def rolling(self) -> float:
        """The mean of the last `ROLLING_WINDOW` losses."""
        return float(np.mean(self.recent)) if self.recent else float("nan")

    def points(self) -> list[float]:
        """The curve: a mean per `stride` steps, then the bucket under way (if any)."""
        tail = [self.partial_sum / self.partial_count] if self.partial_count else []
        return self.means + tail

    def curve(self) -> tuple[list[float], list[float]]:
        """(steps, losses) to plot: each point at the last step its bucket covers, so a
        resumed run's plot shows the history and goes on from the step it stopped at."""
        steps = [float((i + 1) * self.stride) for i in range(len(self.means))]
        if self.partial_count:
            steps.append(float(self.count))
        return steps, self.points()

    def __len__(self) -> int:
        return self.count

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LossHistory):
            return NotImplemented
        (mine, my_fields), (theirs, their_fields) = self.to_saved(), other.to_saved()
        return my_fields == their_fields and np.array_equal(mine, theirs)

    # -- snapshots -----------------------------------------------------------------------
    def to_saved(self) -> tuple[np.ndarray, dict[str, Any]]:
        """(array, fields): the array holds the means then the recent losses; the fields
        (JSON numbers) say how to read it."""
        array = np.asarray([*self.means, *self.recent], np.float32)
        fields = {
            "loss_stride": self.stride,
            "loss_count": self.count,
            "loss_recent": len(self.recent),
            "loss_partial_sum": self.partial_sum,
            "loss_partial_count": self.partial_count,
        }
        return array, fields

    @classmethod
    def from_saved(cls, array: Sequence[float], fields: Mapping[str, Any]) -> LossHistory:
        """Rebuild a saved history; raises ValueError for fields that do not fit together.

        A snapshot written before histories were bounded has no fields: its array is every
        loss, replayed here (and so bounded from now on).
        """
        history = cls()
        values = [float(v) for v in array]
        if "loss_stride" not in fields:
            for value in values:
                history.add(value)
            return history
        stride, count = _int(fields, "loss_stride", 1, MAX_STRIDE), _int(fields, "loss_count")
        recent = _int(fields, "loss_recent", 0, min(ROLLING_WINDOW, len(values)))
        partial = _int(fields, "loss_partial_count", 0, stride - 1)
        partial_sum = fields.get("loss_partial_sum")
        if isinstance(partial_sum, bool) or not isinstance(partial_sum, int | float):
            raise ValueError("loss_partial_sum must be a number")
        means = values[: len(values) - recent]
        if stride & (stride - 1) or len(means) >= history.capacity:
            raise ValueError("loss_stride must be a power of two with fewer means than capacity")
        if count != len(means) * stride + partial or recent > count:
            raise ValueError("loss_count does not match the saved means")
        history.stride, history.count, history.means = stride, count, means
        history.partial_sum, history.partial_count = float(partial_sum), partial
        history.recent.extend(values[len(means) :])
        return history


def _f32(value: float) -> float:
    return float(np.float32(value))


def _int(fields: Mapping[str, Any], key: str, low: int = 0, high: int = MAX_STRIDE) -> int:
    value = fields.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key} must be a whole number in [{low}, {high}]")
    return value
