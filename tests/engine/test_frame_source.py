"""Frame sources on real files: a real video through cv2.VideoCapture, photo folders, cameras."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from neuralpatch.engine.camera_device import DeviceSource
from neuralpatch.engine.folder_source import ImageFolderSource
from neuralpatch.engine.frame import FrameSourceError
from neuralpatch.engine.frame_source import make_source
from neuralpatch.engine.video_source import VideoFileSource

TREE_FRAMES = 68


class _SlowCapture:
    """A real cv2.VideoCapture on a file, paced like a 100 fps camera."""

    def __init__(self, path: Path):
        self._cap = cv2.VideoCapture(str(path))

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self._cap.isOpened()

    def read(self):
        time.sleep(0.01)
        return self._cap.read()

    def release(self) -> None:
        self._cap.release()


class FileCamera(DeviceSource):
    """A device source whose "camera" is a video file: it ends, like a camera unplugged."""

    def __init__(self, path: Path):
        super().__init__(0)
        self.path = path

    def _capture(self):
        return _SlowCapture(self.path)


def test_video_file_plays_in_a_loop(tree_video):
    source = VideoFileSource(tree_video)
    source.open()
    try:
        frames = [source.read() for _ in range(TREE_FRAMES + 2)]
    finally:
        source.close()
    assert [f.number for f in frames] == list(range(TREE_FRAMES + 2))
    first = frames[0].image
    assert first.shape == (240, 320, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(frames[TREE_FRAMES].image, first)  # back to the start
    assert not np.array_equal(frames[1].image, first)
    assert frames[0].label == "tree.avi" and source.dropped == 0
    # the replay is marked, so a looping video is never taken for a live feed
    assert [f.loop for f in frames] == [0] * TREE_FRAMES + [1, 1]


def test_realtime_video_drops_frames_while_the_caller_is_busy(tree_video):
    source = VideoFileSource(tree_video, realtime=True)
    source.open()
    try:
        first = source.read()
        time.sleep(0.4)  # 15 fps: about six frames go by
        second = source.read()
    finally:
        source.close()
    assert second.number - first.number >= 4
    assert source.dropped == second.number - first.number - 1


def test_video_frames_are_rgb(tmp_path):
    path = tmp_path / "red.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(3):
        writer.write(np.full((48, 64, 3), (0, 0, 255), np.uint8))  # BGR red
    writer.release()
    source = VideoFileSource(path)
    source.open()
    red = source.read().image.reshape(-1, 3).mean(axis=0)
    source.close()
    assert red[0] > 200 and red[1] < 40 and red[2] < 40


def test_missing_or_unreadable_video_names_the_file(tmp_path):
    with pytest.raises(FrameSourceError, match="not found") as missing:
        VideoFileSource(tmp_path / "gone.avi")  # at once: a missing file is never retried
    assert "gone.avi" in str(missing.value)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF but not a video at all" * 10)
    with pytest.raises(FrameSourceError, match="junk.avi"):
        source = VideoFileSource(junk)
        source.open()
        source.read()


def test_photo_folder_cycles_skips_bad_files_and_sees_new_ones(tmp_path, photos):
    Image.fromarray(photos["chelsea"]).save(tmp_path / "a_chelsea.png")
    Image.fromarray(photos["coffee"]).save(tmp_path / "b_coffee.jpg")
    (tmp_path / "c_broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    (tmp_path / "notes.txt").write_text("not an image")
    source = ImageFolderSource(tmp_path)
    source.open()
    labels = [source.read().label for _ in range(4)]
    assert labels == ["a_chelsea.png", "b_coffee.jpg", "a_chelsea.png", "b_coffee.jpg"]
    assert list(source.problems) == [tmp_path / "c_broken.jpg"]
    shutil.copy(tmp_path / "a_chelsea.png", tmp_path / "d_new.png")
    labels = [source.read().label for _ in range(3)]
    assert labels == ["a_chelsea.png", "b_coffee.jpg", "d_new.png"]


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FrameSourceError, match="no images"):
        ImageFolderSource(tmp_path).open()
    (tmp_path / "bad.png").write_bytes(b"nope")
    source = ImageFolderSource(tmp_path)
    source.open()
    with pytest.raises(FrameSourceError, match="could be decoded"):
        source.read()


def test_realtime_folder_holds_each_photo(tmp_path, photos):
    Image.fromarray(photos["coffee"]).save(tmp_path / "coffee.png")
    source = ImageFolderSource(tmp_path, realtime=True, interval=0.2)
    source.open()
    started = time.monotonic()
    source.read()
    source.read()
    assert 0.15 < time.monotonic() - started < 1.0


def test_a_long_interval_is_held_in_full_but_stop_cuts_it_short(tmp_path, photos):
    Image.fromarray(photos["coffee"]).save(tmp_path / "coffee.png")
    source = ImageFolderSource(tmp_path, realtime=True, interval=1.5)
    source.open()
    source.read()
    started = time.monotonic()
    source.read()  # the read timeout (1 s) does not cut the interval short
    assert time.monotonic() - started > 1.4
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    source.read(stop=stop)
    assert time.monotonic() - started < 1.0


def test_make_source_reads_the_spec(tmp_path, tree_video):
    assert isinstance(make_source("0"), DeviceSource)
    assert make_source(" 2 ").index == 2
    assert isinstance(make_source(str(tmp_path)), ImageFolderSource)
    (tmp_path / "one.jpg").write_bytes(b"")  # decoded when read, not when made
    assert isinstance(make_source(str(tmp_path / "one.jpg")), ImageFolderSource)
    video = make_source(str(tree_video), realtime=True)
    assert isinstance(video, VideoFileSource) and video.realtime


@pytest.mark.parametrize("name", ["gone.avi", "no_folder", "gone.jpg"])
def test_a_source_missing_at_the_start_is_one_clear_error(tmp_path, name):
    with pytest.raises(FrameSourceError, match="not found") as missing:
        make_source(str(tmp_path / name))
    assert str(missing.value).startswith(str(tmp_path / name))


def test_a_file_that_is_no_video_is_refused_up_front(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    with pytest.raises(FrameSourceError, match=r"notes.txt: not a camera index, video.*\.txt"):
        make_source(str(notes))
    (tmp_path / "README").write_text("not a video either")
    with pytest.raises(FrameSourceError, match="without an extension"):
        make_source(str(tmp_path / "README"))


def test_photo_folder_counts_its_loops(tmp_path, photos):
    Image.fromarray(photos["chelsea"]).save(tmp_path / "a.jpg")
    Image.fromarray(photos["coffee"]).save(tmp_path / "b.jpg")
    source = ImageFolderSource(tmp_path)
    source.open()
    assert [source.read().loop for _ in range(5)] == [0, 0, 1, 1, 2]


def test_missing_camera_is_one_clear_error_and_opencv_stays_quiet(capfd):
    source = DeviceSource(97)
    with pytest.raises(FrameSourceError, match="cannot open camera 97"):
        source.open()
    source.close()
    captured = capfd.readouterr()
    assert "WARN" not in captured.err and "VIDEOIO" not in captured.err


def test_camera_keeps_only_the_newest_frame_then_reports_it_stopped(tree_video):
    camera = FileCamera(tree_video)
    camera.open()
    try:
        first = camera.read()
        time.sleep(0.15)  # ~15 frames arrive meanwhile: all but the newest are dropped
        second = camera.read()
        assert second.number - first.number >= 5
        assert camera.dropped >= second.number - first.number - 2
        deadline = time.monotonic() + 5
        with pytest.raises(FrameSourceError, match="stopped delivering"):
            while time.monotonic() < deadline:
                camera.read(timeout=1.0)
    finally:
        camera.close()
    assert camera._thread is None
