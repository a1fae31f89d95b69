"""The loss log: rolling loss and validation accuracy as text lines and as a plot."""

from __future__ import annotations

import time
from collections.abc import Sequence
from math import ceil, floor, log10

import numpy as np
from rich.cells import cell_len
from rich.text import Text
from textual.widgets import RichLog
from textual_plot import HiResMode, NumericAxisFormatter, PlotWidget

from neuralpatch.engine.number_text import count
from neuralpatch.engine.trainer import StepReport

LOSS_STYLE = "bright_yellow"
ACCURACY_STYLE = "bright_green"
LINE_INTERVAL_S = 0.5  # a line per half second: readable while training runs thousands/s
REDRAW_INTERVAL_S = 0.25
MAX_POINTS = 2000


def report_line(report: StepReport) -> str:
    val = "—" if report.val_accuracy is None else f"{report.val_accuracy:.1%}"
    when = "—" if report.val_when_triggered is None else f"{report.val_when_triggered:.1%}"
    return f"step {count(report.step):>7} loss {report.rolling_loss:.4f} val e2e {val} trig {when}"


class LossLog(RichLog):
    """One line per half second of training, plus the events around it (wrapped)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=2000, min_width=20, wrap=True, id=id)
        self._last_line = 0.0
        self._last_step: int | None = None

    def add_report(self, report: StepReport, force: bool = False) -> None:
        now = time.monotonic()
        if report.step == self._last_step or (
            not force and now - self._last_line < LINE_INTERVAL_S
        ):
            return
        self._last_line, self._last_step = now, report.step
        self.write(Text(report_line(report)))

    def add_event(self, text: str) -> None:
        self.write(Text(f"— {text}", style="italic"))

    def add_table(self, lines: list[str]) -> None:
        """Lines whose columns matter (per-class accuracy, the confusion matrix): written at
        their own width, never wrapped; a narrow log scrolls sideways instead."""
        width = max((cell_len(line) for line in lines), default=0)
        for line in lines:
            self.write(Text(line), width=max(width, self.min_width))


class StepAxis(NumericAxisFormatter):
    """Step numbers: as many ticks as fit the width, labelled like 1.5k."""

    def __init__(self) -> None:
        self.max_ticks = 5

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        raw = max(max_ - min_, 1e-9) / max(1, self.max_ticks)
        power = 10.0 ** floor(log10(raw))
        interval = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
        start = ceil(min_ / interval) * interval
        return [float(t) for t in np.arange(start, max_ + interval / 2, interval)]

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        interval = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
        return [compact_number(t, interval) for t in ticks]


def compact_number(value: float, interval: float = 1.0) -> str:
    """`1.5k`, `104.95k`: as many decimals as ticks `interval` apart need to differ."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            decimals = max(0, ceil(-log10(interval / size) - 1e-9))
            text = f"{value / size:.{decimals}f}"
            return (text.rstrip("0").rstrip(".") if "." in text else text) + suffix
    return f"{value:.4g}"


class LossPlot(PlotWidget):
    """Rolling loss and validation accuracy against the step; redrawn at most 4 times/s."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, allow_pan_and_zoom=False)
        self.can_focus = False
        self.steps: list[float] = []
        self.losses: list[float] = []
        self.accuracies: list[float] = []
        self._dirty = False
        self._x_axis = StepAxis()

    def on_mount(self) -> None:
        self.margin_top, self.margin_bottom, self.margin_left = 0, 1, 6
        self.set_ylimits(0.0, None)
        self.set_x_formatter(self._x_axis)
        self.set_interval(REDRAW_INTERVAL_S, self._redraw)

    def add_history(self, steps: list[float], losses: list[float]) -> None:
        """The loss curve a resumed run brings along (no validation figures were kept)."""
        self.steps, self.losses = list(steps), list(losses)
        self.accuracies = [float("nan")] * len(steps)
        self._dirty = True

    def add_report(self, report: StepReport) -> None:
        if self.steps and report.step <= self.steps[-1]:
            return
        self.steps.append(report.step)
        self.losses.append(report.rolling_loss)
        self.accuracies.append(float("nan") if report.val_accuracy is None else report.val_accuracy)
        if len(self.steps) > MAX_POINTS:  # thin the old half: the curve keeps its shape
            half = len(self.steps) // 2
            for series in (self.steps, self.losses, self.accuracies):
                series[:half] = series[:half:2]
        self._dirty = True

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._x_axis.max_ticks = max(2, (self.size.width - self.margin_left) // 7)
        self.clear()
        self.plot(self.steps, self.losses, line_style=LOSS_STYLE, hires_mode=HiResMode.BRAILLE)
        self.plot(
            self.steps, self.accuracies, line_style=ACCURACY_STYLE, hires_mode=HiResMode.BRAILLE
        )
