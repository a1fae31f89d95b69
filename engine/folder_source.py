"""A folder of photos (or one photo) as a frame source, cycled in name order."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from neuralpatch.engine.dataset import IMAGE_EXTENSIONS
from neuralpatch.engine.errors import ImageError
from neuralpatch.engine.frame import Frame, FrameSource, FrameSourceError
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.video_source import NOT_FOUND

DEFAULT_FOLDER_INTERVAL_S = 1.0


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
        if not self.path.exists():  # at the start: one clear error, not a retry for ever
            raise FrameSourceError(NOT_FOUND, self.path)
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
