"""A one-line progress bar on stderr, so `--json` output on stdout stays clean."""

from __future__ import annotations

import sys
import time


class ProgressLine:
    """Redraws `label [#####.....] done/total what` in place; silent until first update.

    A total of 0 means "unknown" (train until Ctrl-C): the line shows the count only.
    """

    def __init__(self, label: str, stream=None, width: int = 30):
        self.label, self.width = label, width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._shown = False
        self._last = 0.0

    def update(self, done: int, total: int, what: str = "") -> None:
        now = time.monotonic()
        final = total > 0 and done >= total
        if not final and now - self._last < (0.1 if self.tty else 2.0):
            return
        self._last = now
        if total > 0:
            filled = int(self.width * done / total)
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}"
        else:
            bar = f"{done}"
        text = f"{self.label} {bar} {what}"
        if self.tty:
            self.stream.write("\r" + text[:120].ljust(120))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._shown = True

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc) -> None:
        if self._shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def percent(value: float | None) -> str:
    """An accuracy for people: `93.8%`, or `n/a` when there was nothing to count."""
    return "n/a" if value is None else f"{value:.1%}"
