"""Where live frames come from: a camera, a video file (looped) or a folder of photos (cycled).

Every source hands out RGB uint8 frames through `read()` and raises `FrameSourceError` naming
the device or file when it cannot; the live loop closes it and opens a fresh one with backoff.
Files make the camera mode usable and testable without a camera.

Nothing here opens a device or touches OpenCV's logging at import time: sources are opened by
`open()`, from the loop's own thread.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from neuralpatch.engine.dataset import IMAGE_EXTENSIONS
from neuralpatch.engine.errors import ImageError, NeuralpatchError
from neuralpatch.engine.image_io import decode_image

DEFAULT_FOLDER_INTERVAL_S = 1.0
# What OpenCV's FFmpeg backend plays; anything else (a .txt, a .csv) is refused up front.
VIDEO_EXTENSIONS = frozenset(
    {".avi", ".mp4", ".m4v", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ogv"}
    | {".3gp", ".ts", ".mts", ".mjpg", ".mjpeg", ".gif"}
)
DEVICE_STALL_S = 2.0  # a camera silent this long is treated as gone
_MAX_FAILED_GRABS = 5


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


def quiet_opencv() -> None:
    """Keep OpenCV's own warnings (e.g. "can't open camera by index") off the terminal."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None and hasattr(logging, "setLogLevel"):
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)


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


class VideoFileSource(FrameSource):
    """A video file through cv2.VideoCapture, played in a loop.

    With `realtime`, frames that would have arrived while the caller was busy are skipped, as a
    camera would drop them; otherwise every frame is returned in order.
    """

    def __init__(self, path: str | Path, *, realtime: bool = False, loop: bool = True):
        self.path = Path(path)
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
            raise FrameSourceError("not found (no such video file or photo folder)", self.path)
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
        return Frame(_to_rgb(bgr), self._number, captured, self.description, self._loops)

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


class ImageFolderSource(FrameSource):
    """Photos in a folder (or one photo), cycled in name order; rescanned at every cycle.

    Undecodable files are skipped and listed in `problems`. With `realtime`, each photo stays
    `interval` seconds, like a slow camera; otherwise the next one comes as soon as asked.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        realtime: bool = False,
        interval: float = DEFAULT_FOLDER_INTERVAL_S,
    ):
        self.path = Path(path)
        self.realtime, self.interval = realtime, interval
        self.description = self.path.name
        self.problems: dict[Path, str] = {}
        self._files: list[Path] = []
        self._position = 0
        self._number = -1
        self._loops = 0
        self._last = 0.0

    def open(self) -> None:
        self._files = self._scan()
        self._position = 0

    def _scan(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        if not self.path.is_dir():
            raise FrameSourceError("no such file or folder", self.path)
        try:
            files = sorted(
                p
                for p in self.path.iterdir()
                if p.is_file()
                and not p.name.startswith(".")
                and p.suffix.lower() in IMAGE_EXTENSIONS
            )
        except OSError as exc:
            raise FrameSourceError(f"cannot list the folder: {exc.strerror}", self.path) from exc
        if not files:
            raise FrameSourceError(
                f"the folder holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})", self.path
            )
        return files

    def read(self, timeout: float = 1.0, stop: threading.Event | None = None) -> Frame:
        if self.realtime and self._number >= 0:  # hold the photo for the whole interval
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                (stop.wait if stop is not None else time.sleep)(wait)
        for _ in range(len(self._files) + 1):
            if self._position >= len(self._files):
                self._files, self._position = self._scan(), 0
                self._loops += 1
            path = self._files[self._position]
            self._position += 1
            captured = time.perf_counter()
            try:
                rgb = decode_image(path)
            except ImageError as exc:
                self.problems[path] = str(exc)
                continue
            self.problems.pop(path, None)
            self._number += 1
            self._last = time.monotonic()
            return Frame(rgb, self._number, captured, path.name, self._loops)
        raise FrameSourceError("no image in the folder could be decoded", self.path)


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
                frame = Frame(_to_rgb(bgr), -1, captured, self.description)
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


def make_source(
    spec: str | int, *, realtime: bool = False, interval: float = DEFAULT_FOLDER_INTERVAL_S
) -> FrameSource:
    """The source `--source` names: a device index ("0"), a video file, or a photo folder.

    Nothing is opened yet; a missing path is reported by `open()`, so the app can show it.
    """
    text = str(spec).strip()
    if text.isascii() and text.isdigit():
        return DeviceSource(int(text))
    path = Path(text).expanduser()
    if path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageFolderSource(path, realtime=realtime, interval=interval)
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        kind = f"a {path.suffix} file" if path.suffix else "a file without an extension"
        raise FrameSourceError(
            f"not a camera index, video or photo folder ({kind}; videos: "
            f"{', '.join(sorted(VIDEO_EXTENSIONS))})",
            path,
        )
    return VideoFileSource(path, realtime=realtime)


def _to_rgb(bgr: np.ndarray) -> np.ndarray:
    if bgr.ndim == 2:
        return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    if bgr.shape[2] == 4:
        return cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
