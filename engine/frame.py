"""A live frame and the interface every source of frames offers.

Every source hands out RGB uint8 frames through `read()` and raises `FrameSourceError` naming
the device or file when it cannot; the live loop closes it and opens a fresh one with backoff.
Nothing here opens a device or touches OpenCV's logging at import time: sources are opened by
`open()`, from the loop's own thread.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from neuralpatch.engine.errors import NeuralpatchError


class FrameSourceError(NeuralpatchError):
    """A camera that cannot be opened or stopped delivering, or an unreadable video or folder."""


@dataclass
class Frame:
    """One RGB frame; `number` counts from 0 the frames the source produced, dropped ones
    included, so gaps show what was dropped."""

    image: np.ndarray
    number: int
    captured: float  # time.perf_counter() when reading it began (for a camera: grabbed)
    label: str  # what to call it on screen: "camera 0", "tree.avi", "n02121808_101.jpg"
    loop: int = 0  # how many times a video or photo folder has started again before this frame


class FrameSource:
    """Base class. `is_device` sources run by themselves; file sources are read on demand."""

    is_device = False
    description = "source"

    def open(self) -> None:
        """Open the device or file; raises FrameSourceError."""

    def read(self, timeout: float = 1.0, stop: threading.Event | None = None) -> Frame:
        """The next frame (for a device: the newest one not yet returned).

        A source that paces itself waits on `stop` (when given), so stopping is not delayed.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file; safe to call twice."""

    @property
    def dropped(self) -> int:
        """Frames the source produced that were never returned by `read()`."""
        return 0


def quiet_opencv() -> None:
    """Keep OpenCV's own warnings (e.g. "can't open camera by index") off the terminal."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None and hasattr(logging, "setLogLevel"):
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)


def to_rgb(bgr: np.ndarray) -> np.ndarray:
    if bgr.ndim == 2:
        return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    if bgr.shape[2] == 4:
        return cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
