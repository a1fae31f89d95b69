"""Progress bars on stderr (so `--json` output on stdout stays clean), drawn by rich.

On a terminal the bar redraws in place; into a file or a pipe it becomes a plain line every
few seconds, readable in a log. A stderr that went away (a dropped SSH session, a closed
pipe) silences the bar instead of ending the command: the work matters more than its bar.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

from neuralpatch.engine.number_text import count as number
from neuralpatch.engine.number_text import fraction
from neuralpatch.engine.safe_text import printable

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

TTY_INTERVAL_S = 0.1
LOG_INTERVAL_S = 2.0


class ProgressLine:
    """`label ━━━━━╸━━━ done/total what`; silent until the first update.

    A total of 0 means "unknown" (train until Ctrl-C): the bar pulses and shows the count. With
    a `delay`, nothing is drawn until that many seconds have passed (work that is usually quick).
    """

    def __init__(self, label: str, stream: TextIO | None = None, delay: float = 0.0):
        self.label = label
        self._quiet_until = time.monotonic() + delay
        self.stream = stream or sys.stderr
        self.tty = _isatty(self.stream)
        self._last = 0.0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._broken = False

    def due(self, done: int, total: int) -> bool:
        """Whether `update` would draw now: lets a caller compute costly text only then."""
        if time.monotonic() < self._quiet_until:
            return False
        final = total > 0 and done >= total
        return not self._broken and (final or time.monotonic() - self._last >= self._interval)

    def update(self, done: int, total: int, what: str = "") -> None:
        if not self.due(done, total):
            return
        now = time.monotonic()
        self._last = now
        what = printable(what)  # a photo's file name, often
        try:
            if self.tty:
                self._draw(done, total, what)
            else:
                count = fraction(done, total) if total > 0 else number(done)
                self.stream.write(f"{self.label} {count} {what}".rstrip() + "\n")
                self.stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: keep working, stop drawing
            self._broken = True

    @property
    def _interval(self) -> float:
        return TTY_INTERVAL_S if self.tty else LOG_INTERVAL_S

    def _draw(self, done: int, total: int, what: str) -> None:
        if self._progress is None:
            # rich costs 0.1 s to import: only a bar that is drawn on a terminal pays for it
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            from neuralpatch.commands.progress_rich import CountColumn, StderrConsole

            progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                CountColumn(),
                TextColumn("{task.fields[what]}", markup=False),  # a file name is not markup
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=StderrConsole(file=self.stream),
                auto_refresh=False,  # drawn from update() only: no thread to die on a closed pipe
                redirect_stdout=False,  # prints stay prints: stdout may be --json or a pipe
                redirect_stderr=False,
            )
            progress.start()
            self._progress = progress
            self._task = progress.add_task(self.label, total=None, what="")
        assert self._task is not None
        self._progress.update(self._task, completed=done, total=total or None, what=what)
        self._progress.refresh()

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None and not self._broken:
            try:
                self._progress.stop()
            except (OSError, ValueError):
                self._broken = True


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


def percent(value: float | None) -> str:
    """An accuracy for people: `93.8%`, or `n/a` when there was nothing to count."""
    return "n/a" if value is None else f"{value:.1%}"
