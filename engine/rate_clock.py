"""Progress for long runs over many photos: the count, the rate and the time left."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from neuralpatch.engine.number_text import rate

Progress = Callable[[int, int, str], None]
T = TypeVar("T")


class RateClock:
    """Counts finished photos and reports them with the rate and the time left.

    Reports at most every `interval` seconds, and always for the last photo.
    """

    def __init__(self, total: int, on_progress: Progress | None, interval: float = 0.1):
        self.total, self.on_progress, self.interval = total, on_progress, interval
        self.done = 0
        self.started = self._last = time.perf_counter()

    def tick(self, item: T) -> T:
        self.done += 1
        now = time.perf_counter()
        if self.on_progress is not None and (
            self.done >= self.total or now - self._last >= self.interval
        ):
            self._last = now
            speed = self.done / max(now - self.started, 1e-9)
            left = (self.total - self.done) / max(speed, 1e-9)
            self.on_progress(
                self.done, self.total, f"{rate(speed)} photos/s, {format_duration(left)} left"
            )
        return item


def format_duration(seconds: float) -> str:
    """`0:42`, `12:05`, `3:02:10`: short enough for a progress line."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
