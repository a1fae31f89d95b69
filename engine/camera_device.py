"""A camera by index as a frame source: a grabbing thread keeps only the newest frame."""

from __future__ import annotations

import threading
import time

import cv2

from neuralpatch.engine.frame import Frame, FrameSource, FrameSourceError, quiet_opencv, to_rgb

DEVICE_STALL_S = 2.0  # a camera silent this long is treated as gone
_MAX_FAILED_GRABS = 5


class DeviceSource(FrameSource):
    """A camera by index. A thread grabs continuously and keeps only the newest frame, so the
    caller always gets a fresh one and frames that arrive while it is busy are dropped."""

    is_device = True

    def __init__(self, index: int):
        self.index = index
        self.description = f"camera {index}"
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._returned = self._grabbed = -1
        self._skipped = 0
        self._error: str | None = None

    def open(self) -> None:
        quiet_opencv()
        self.close()
        cap = self._capture()
        if not cap.isOpened():
            cap.release()
            raise FrameSourceError(f"cannot open camera {self.index} (no such device, or busy)")
        self._error, self._latest = None, None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._grab_loop, args=(cap, self._stop), name=f"camera-{self.index}", daemon=True
        )
        self._thread.start()

    def _capture(self) -> cv2.VideoCapture:
        """The OpenCV capture to grab from (tests stand a video file in for a camera)."""
        return cv2.VideoCapture(self.index)

    def _grab_loop(self, cap: cv2.VideoCapture, stop: threading.Event) -> None:
        # This thread owns the capture: a driver stuck in read() must not see it released.
        failures = 0
        try:
            while not stop.is_set():
                captured = time.perf_counter()
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    failures += 1
                    if failures >= _MAX_FAILED_GRABS:
                        self._fail(f"camera {self.index} stopped delivering frames")
                        return
                    time.sleep(0.05)
                    continue
                failures = 0
                frame = Frame(to_rgb(bgr), -1, captured, self.description)
                with self._cond:
                    self._grabbed += 1
                    if self._latest is not None and self._latest.number > self._returned:
                        self._skipped += 1  # never read: dropped, not queued
                    frame.number = self._grabbed
                    self._latest = frame
                    self._cond.notify_all()
        finally:
            cap.release()

    def _fail(self, message: str) -> None:
        with self._cond:
            self._error = message
            self._cond.notify_all()

    def read(self, timeout: float = DEVICE_STALL_S, stop: threading.Event | None = None) -> Frame:
        with self._cond:
            fresh = self._cond.wait_for(
                lambda: (
                    self._error is not None
                    or (self._latest is not None and self._latest.number > self._returned)
                ),
                timeout,
            )
            if self._error is not None:
                raise FrameSourceError(self._error)
            if not fresh or self._latest is None:
                raise FrameSourceError(f"camera {self.index} sent no frame for {timeout:g} s")
            self._returned = self._latest.number
            return self._latest

    @property
    def dropped(self) -> int:
        return self._skipped

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)  # a hung driver keeps its daemon thread, not us
            self._thread = None
