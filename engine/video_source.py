"""A video file as a frame source, played in a loop (camera mode without a camera)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2

from neuralpatch.engine.frame import Frame, FrameSource, FrameSourceError, quiet_opencv, to_rgb

NOT_FOUND = "not found (no such video file or photo folder)"


class VideoFileSource(FrameSource):
    """A video file through cv2.VideoCapture, played in a loop.

    With `realtime`, frames that would have arrived while the caller was busy are skipped, as a
    camera would drop them; otherwise every frame is returned in order.
    """

    def __init__(self, path: str | Path, *, realtime: bool = False, loop: bool = True):
        self.path = Path(path)
        # Missing at the start is a mistake to report once; a file that vanishes later is
        # reopened with backoff by the live loop (it may be copied back).
        if not self.path.is_file():
            raise FrameSourceError(NOT_FOUND, self.path)
        self.realtime, self.loop = realtime, loop
        self.description = self.path.name
        self.fps = 0.0
        self._cap: cv2.VideoCapture | None = None
        self._number = -1  # the last frame produced, counted over all loops
        self._loops = 0  # rewinds so far: shown, so a looping video is never taken for live
        self._in_loop = 0  # frames read since the last rewind
        self._started = 0.0
        self._skipped = 0

    def open(self) -> None:
        quiet_opencv()
        self.close()
        if not self.path.is_file():
            raise FrameSourceError(NOT_FOUND, self.path)
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise FrameSourceError(
                "cannot open as a video (unknown format or unreadable)", self.path
            )
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0.5 <= fps <= 1000 else 25.0
        self._cap, self._in_loop, self._started = cap, 0, time.monotonic()

    def read(self, timeout: float = 1.0, stop: threading.Event | None = None) -> Frame:
        if self._cap is None:
            raise FrameSourceError("video is not open", self.path)
        if self.realtime:
            self._skip_to_now()
        captured = time.perf_counter()
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            if self._in_loop == 0:
                raise FrameSourceError("no frame could be decoded", self.path)
            if not self.loop:
                raise FrameSourceError("end of video", self.path)
            self._rewind()
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                raise FrameSourceError("no frame could be decoded after rewinding", self.path)
        self._in_loop += 1
        self._number += 1
        return Frame(to_rgb(bgr), self._number, captured, self.description, self._loops)

    def _rewind(self) -> None:
        # Reopening (rather than seeking) works with every codec and notices a file that was
        # deleted or replaced since the last loop.
        number = self._number
        self.open()
        self._number = number
        self._loops += 1

    def _skip_to_now(self) -> None:
        assert self._cap is not None
        due = int((time.monotonic() - self._started) * self.fps)
        while self._in_loop < due:
            if not self._cap.grab():
                return  # the end: read() rewinds
            self._in_loop += 1
            self._number += 1
            self._skipped += 1
        if self._in_loop > due:  # ahead of the clock: wait for the frame's time
            time.sleep(min((self._in_loop - due) / self.fps, 1.0))

    @property
    def dropped(self) -> int:
        return self._skipped

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
