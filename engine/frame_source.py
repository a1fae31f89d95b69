"""Where live frames come from: a camera, a video file (looped) or a folder of photos (cycled).

Files make the camera mode usable and testable without a camera. The sources live in
`camera_device`, `video_source` and `folder_source`; their interface in `frame`.
"""

from __future__ import annotations

from pathlib import Path

from neuralpatch.engine.camera_device import DeviceSource
from neuralpatch.engine.dataset import IMAGE_EXTENSIONS
from neuralpatch.engine.folder_source import DEFAULT_FOLDER_INTERVAL_S, ImageFolderSource
from neuralpatch.engine.frame import FrameSource, FrameSourceError
from neuralpatch.engine.video_source import NOT_FOUND, VideoFileSource

# What OpenCV's FFmpeg backend plays; anything else (a .txt, a .csv) is refused up front.
VIDEO_EXTENSIONS = frozenset(
    {".avi", ".mp4", ".m4v", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ogv"}
    | {".3gp", ".ts", ".mts", ".mjpg", ".mjpeg", ".gif"}
)


def make_source(
    spec: str | int, *, realtime: bool = False, interval: float = DEFAULT_FOLDER_INTERVAL_S
) -> FrameSource:
    """The source `--source` names: a device index ("0"), a video file, or a photo folder.

    Nothing is opened yet, but a file or folder that does not exist raises FrameSourceError
    naming it: a mistyped path is reported once instead of being retried for ever.
    """
    text = str(spec).strip()
    if text.isascii() and text.isdigit():
        return DeviceSource(int(text))
    path = Path(text).expanduser()
    if not path.exists():
        raise FrameSourceError(NOT_FOUND, path)
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
