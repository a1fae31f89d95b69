"""The live testing loop: newest frame → base pass → patch cascade → callbacks, until stopped.

One frame is in flight at a time and nothing is queued: a file source is read when the loop is
ready for the next frame, a camera grabs continuously and the loop takes the newest frame, so
frames that arrive during a pass are dropped. A source that fails (no camera, a camera
unplugged, a video deleted) is reported through `on_status` and reopened with backoff while
the caller keeps running. Synchronous and UI-free: the terminal app runs it in a worker
thread, `neuralpatch camera --headless` in the main thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from neuralpatch.engine.base_network import BaseNetwork, LayerProgress
from neuralpatch.engine.frame import Frame, FrameSource, FrameSourceError
from neuralpatch.engine.patch_result import ImageResult
from neuralpatch.engine.patch_system import PatchSystem

FPS_WINDOW_S = 2.0
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 8.0

SourceState = Literal["opening", "live", "lost", "failed", "stopped"]


@dataclass(frozen=True)
class SourceStatus:
    """What the source is doing; `retry_in` is set while waiting to reopen a lost source."""

    state: SourceState
    source: str
    message: str = ""
    attempt: int = 0  # consecutive failed attempts
    retry_in: float | None = None


@dataclass(eq=False)
class LiveResult:
    """One frame through the base network and the patch system.

    `base_ms` is the base pass (crop, resize and every layer); `patches_ms` the patch
    cascade; `total_ms` runs from the frame's capture to the finished result, so it also
    holds decoding and, for a camera, the time the frame waited for the pass before it.
    """

    index: int  # passes done before this one: 0, 1, 2, ...
    frame: Frame
    result: ImageResult
    base_ms: float
    patches_ms: float
    total_ms: float
    fps: float  # passes per second over the last couple of seconds
    dropped: int  # frames the source produced that never got a pass, so far
    features: np.ndarray | None = field(default=None, repr=False)  # pooled, for teach mode
    feature_map: np.ndarray | None = None  # (h, w, D), the pass's last map: for heat-maps

    @property
    def image(self) -> np.ndarray:
        return self.frame.image

    def to_dict(self) -> dict[str, Any]:
        """One JSON Lines record; the keys are listed in `neuralpatch camera --help`."""
        best = self.result.top[0]
        return {
            "frame": self.index,
            "source_frame": self.frame.number,
            "label": self.frame.label,
            "base": {
                "index": best.index,
                "tag": best.tag,
                "name": best.name,
                "probability": best.probability,
            },
            "identified": self.result.identified is not None,
            "patches": [p.to_dict() for p in self.result.patches],
            "timings": {
                "base_ms": self.base_ms,
                "patches_ms": self.patches_ms,
                "total_ms": self.total_ms,
            },
            "fps": self.fps,
            "dropped": self.dropped,
        }


def retry_delay(attempt: int, first: float = FIRST_RETRY_S, cap: float = MAX_RETRY_S) -> float:
    """Exponential backoff: first, 2·first, 4·first, ... at most `cap` seconds."""
    return min(cap, first * 2.0 ** max(0, attempt - 1))


class LiveLoop:
    """Runs frames from a source through the base network and a patch system.

    `give_up_after` bounds consecutive failed attempts to get a frame before `run` raises the
    source's error (None: retry for ever, as the terminal app does for a camera).
    """

    def __init__(
        self,
        base: BaseNetwork,
        source: FrameSource,
        patches: PatchSystem | None = None,
        *,
        top_k: int = 5,
        give_up_after: int | None = None,
        min_confidence: float | None = None,
        first_retry_s: float = FIRST_RETRY_S,
        max_retry_s: float = MAX_RETRY_S,
    ):
        self.base, self.source = base, source
        self.patches = patches if patches is not None else PatchSystem.for_base(base)
        self.top_k = top_k
        self.min_confidence = min_confidence  # overrides the patches' own thresholds
        self.give_up_after = give_up_after
        self.first_retry_s, self.max_retry_s = first_retry_s, max_retry_s
        self.latest: LiveResult | None = None
        self._opened = False
        self._passes = 0
        self._times: deque[float] = deque()

    def run(
        self,
        stop: threading.Event,
        *,
        max_frames: int | None = None,
        on_result: Callable[[LiveResult], None] | None = None,
        on_layer: LayerProgress | None = None,
        on_status: Callable[[SourceStatus], None] | None = None,
    ) -> int:
        """Process frames until `stop` is set or `max_frames` passes ran; returns passes run.

        Callbacks run on this thread: `on_layer(done, total)` during each base pass,
        `on_result` after it, `on_status` when the source opens, fails or is retried.
        Raises FrameSourceError once `give_up_after` consecutive attempts failed.
        """
        report = on_status or (lambda status: None)
        failures = 0
        done = 0
        try:
            while not stop.is_set() and (max_frames is None or done < max_frames):
                try:
                    frame = self._next_frame(report, failures, stop)
                except FrameSourceError as exc:
                    failures += 1
                    self._close()
                    if self.give_up_after is not None and failures > self.give_up_after:
                        report(SourceStatus("failed", self.source.description, str(exc), failures))
                        raise
                    delay = retry_delay(failures, self.first_retry_s, self.max_retry_s)
                    report(SourceStatus("lost", self.source.description, str(exc), failures, delay))
                    stop.wait(delay)
                    continue
                if failures:
                    failures = 0
                    report(SourceStatus("live", self.source.description))
                result = self.process(frame, on_layer)
                done += 1
                if on_result is not None:
                    on_result(result)
        finally:
            self._close()
            report(SourceStatus("stopped", self.source.description))
        return done

    def _next_frame(
        self, report: Callable[[SourceStatus], None], failures: int, stop: threading.Event
    ) -> Frame:
        if not self._opened:
            report(SourceStatus("opening", self.source.description, attempt=failures))
            self.source.open()
            self._opened = True
            if not failures:
                report(SourceStatus("live", self.source.description))
        return self.source.read(stop=stop)

    def _close(self) -> None:
        if self._opened:
            self._opened = False
            self.source.close()

    def process(self, frame: Frame, on_layer: LayerProgress | None = None) -> LiveResult:
        """One frame through the base pass and the patch cascade (also usable on its own)."""
        t0 = time.perf_counter()
        base_pass = self.base.run([frame.image], on_layer=on_layer)
        t1 = time.perf_counter()
        result = self.patches.classify(
            base_pass.probabilities[0], base_pass.features[0], self.top_k
        )
        result.abstain_below(self.min_confidence)
        t2 = time.perf_counter()
        self._passes += 1
        live = LiveResult(
            index=self._passes - 1,
            frame=frame,
            result=result,
            base_ms=(t1 - t0) * 1e3,
            patches_ms=(t2 - t1) * 1e3,
            total_ms=(t2 - frame.captured) * 1e3,
            fps=self._tick(t2),
            dropped=self.source.dropped,
            features=base_pass.features[0],
            feature_map=base_pass.feature_map[0],
        )
        self.latest = live
        return live

    def _tick(self, now: float) -> float:
        times = self._times
        times.append(now)
        while len(times) > 2 and now - times[0] > FPS_WINDOW_S:
            times.popleft()
        if len(times) < 2:
            return 0.0
        return (len(times) - 1) / max(times[-1] - times[0], 1e-9)
