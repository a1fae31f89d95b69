"""Where live frames come from: a camera, a video file (looped) or a folder of photos (cycled).

Files make the camera mode usable and testable without a camera. The sources live in
`camera_device`, `video_source` and `folder_source`; their interface in `frame`.
"""

from __future__ import annotations

from pathlib import Path

from neuralpatch.engine.camera_device import DeviceSource
from neuralpatch.engine.dataset import IMAGE_EXTENSIONS
from neuralpatch.engine.folder_source import DEFAULT_FOLDER_INTERVAL_S, ImageFolderSource
from neuralpatch.engine.frame import FrameSource
from neuralpatch.engine.video_source import VideoFileSource


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
    return VideoFileSource(path, realtime=realtime)
