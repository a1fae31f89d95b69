"""The SGD hyper-parameters and their bounds: one definition for every reader and writer.

The parameters pane validates what is typed with `rate_problem`, the CLI and the trainer
build `HyperParams` (which refuses a bad value when made), the snapshot writer stores
`to_dict()` and its reader checks the stored values against the same `BOUNDS`. The object is
frozen: a live change is a new object the trainer takes between two steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neuralpatch.engine.errors import SettingError


@dataclass(frozen=True)
class Bound:
    """The valid values of one rate: a closed interval, open at the bottom for `low_open`."""

    low: float
    high: float
    integer: bool = False
    low_open: bool = False

    def holds(self, value: object) -> bool:
        """Whether `value` is a number of the right kind inside the interval.

        Compared before any float(): an integer of 400 digits is refused, not overflowed;
        NaN and infinities fail the comparisons.
        """
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not isinstance(value, int):
            return False
        above_low = value > self.low if self.low_open else value >= self.low
        return above_low and value <= self.high

    @property
    def interval(self) -> str:
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"


BOUNDS: dict[str, Bound] = {
    "batch_size": Bound(1, 4096, integer=True),
    "lr": Bound(0.0, 10.0, low_open=True),
    "momentum": Bound(0.0, 0.999),
    "decay": Bound(0.0, 1.0),
}
RATES = tuple(BOUNDS)  # the fields that take numbers (augment is a switch)


def label(name: str) -> str:
    """What people call a field: `batch size`, `lr`."""
    return name.replace("_", " ")


def rate_problem(name: str, value: object) -> str | None:
    """Why `value` cannot be the rate `name` (naming the field and its range), or None."""
    bound = BOUNDS[name]
    if bound.holds(value):
        return None
    kind = "a whole number" if bound.integer else "a number"
    return f"{label(name)} must be {kind} in {bound.interval}"


def parse_rate(name: str, text: str) -> int | float:
    """A typed rate as a number of its field's kind; raises ValueError for text that is none."""
    return int(text) if BOUNDS[name].integer else float(text)


@dataclass(frozen=True)
class HyperParams:
    """The rates of a training run; making one with a value out of `BOUNDS` raises."""

    batch_size: int = 16
    lr: float = 0.01
    momentum: float = 0.9
    decay: float = 0.0005
    augment: bool = False

    def __post_init__(self) -> None:
        for name in RATES:
            problem = rate_problem(name, getattr(self, name))
            if problem:
                raise SettingError(problem)
        if not isinstance(self.augment, bool):
            raise SettingError("augment must be true or false")
        for name in ("lr", "momentum", "decay"):  # ints from JSON or the pane become floats
            object.__setattr__(self, name, float(getattr(self, name)))

    def replace(self, **changes: Any) -> HyperParams:
        """A copy with some fields changed, checked like a new one."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> HyperParams:
        """The fields named in `values` (others keep their defaults); extra keys are ignored."""
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})
