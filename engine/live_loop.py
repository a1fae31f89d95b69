"""The live testing loop: newest frame → base pass → patch cascade → callbacks, until stopped.

One frame is in flight at a time and nothing is queued: a file source is read when the loop is
ready for the next frame, a camera grabs continuously and the loop takes the newest frame, so
frames that arrive during a pass are dropped. With `overlap=True` (`camera --headless`) the
base pass of the next frame runs in a helper thread while this thread runs the cascade and
the callbacks of the previous one: two frames in flight, one frame more latency, but the
Python work of 1,000 firing patches (cascade, JSON) no longer adds to the base pass's time
(PoCL and numpy release the GIL while they compute). A source that fails (no camera, a camera
unplugged, a video deleted) is reported through `on_status` and reopened with backoff while
the caller keeps running. Synchronous and UI-free: the terminal app runs it in a worker
thread, `neuralpatch camera --headless` in the main thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from neuralpatch.engine.base_network import BaseNetwork, BasePass, LayerProgress
from neuralpatch.engine.frame import Frame, FrameSource, FrameSourceError
from neuralpatch.engine.patch_result import ImageResult
from neuralpatch.engine.patch_system import PatchSystem

FPS_WINDOW_S = 2.0
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 8.0

_TimedPass = tuple[BasePass, float, float]  # the pass, when it started and ended

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
        overlap: bool = False,
    ):
        self.base, self.source = base, source
        self.patches = patches if patches is not None else PatchSystem.for_base(base)
        self.top_k = top_k
        self.min_confidence = min_confidence  # overrides the patches' own thresholds
        self.give_up_after = give_up_after
        self.first_retry_s, self.max_retry_s = first_retry_s, max_retry_s
        self.overlap = overlap
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

        Callbacks run on this thread: `on_layer(done, total)` during each base pass (on the
        helper thread with `overlap`), `on_result` after it, `on_status` when the source
        opens, fails or is retried. Raises FrameSourceError once `give_up_after`
        consecutive attempts failed.
        """
        report = on_status or (lambda status: None)
        done = 0
        pending: tuple[Frame, Future[_TimedPass]] | None = None
        helper = (
            ThreadPoolExecutor(1, thread_name_prefix="neuralpatch-base") if self.overlap else None
        )

        def finish(frame: Frame, timed: _TimedPass) -> None:
            nonlocal done
            result = self._finish(frame, *timed)
            done += 1
            if on_result is not None:
                on_result(result)

        try:
            more = lambda: max_frames is None or done + (pending is not None) < max_frames  # noqa: E731
            for frame in self._frames(stop, report, more):
                if helper is None:
                    finish(frame, self._base_pass(frame, on_layer))
                    continue
                started = (frame, helper.submit(self._base_pass, frame, on_layer))
                if pending is not None:
                    finish(pending[0], pending[1].result())
                pending = started
            if pending is not None and not stop.is_set():
                finish(pending[0], pending[1].result())
                pending = None
        finally:
            if helper is not None:
                helper.shutdown(wait=True)  # never leave a base pass running behind the caller
            self._close()
            report(SourceStatus("stopped", self.source.description))
        return done

    def _frames(
        self,
        stop: threading.Event,
        report: Callable[[SourceStatus], None],
        more: Callable[[], bool],
    ) -> Iterator[Frame]:
        """Frames while `more()` and not stopped, reopening a failed source with backoff."""
        failures = 0
        while not stop.is_set() and more():
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
            yield frame

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
        return self._finish(frame, *self._base_pass(frame, on_layer))

    def _base_pass(self, frame: Frame, on_layer: LayerProgress | None) -> _TimedPass:
        t0 = time.perf_counter()
        base_pass = self.base.run([frame.image], on_layer=on_layer)
        return base_pass, t0, time.perf_counter()

    def _finish(self, frame: Frame, base_pass: BasePass, t0: float, t1: float) -> LiveResult:
        """The cascade on a finished base pass (run from t0 to t1), and the frame's result."""
        t_cascade = time.perf_counter()
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
            patches_ms=(t2 - t_cascade) * 1e3,
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
