"""The live loop on real video through cv2.VideoCapture, a real trained patch and hot reload."""

from __future__ import annotations

import io
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from neuralpatch.engine.camera_device import DeviceSource
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.frame import FrameSourceError
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.live_loop import LiveLoop, LiveResult, SourceStatus, retry_delay
from neuralpatch.engine.patch_file import PatchOutput, load_patch, save_patch
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.patch_watcher import PatchWatcher
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, save_training
from neuralpatch.engine.video_source import VideoFileSource

CAT_FRAMES = COFFEE_FRAMES = 6


def write_video(path: Path, images: list[np.ndarray], size=(400, 300)) -> Path:
    """A real MJPG .avi, written with cv2.VideoWriter."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for rgb in images:
        resized = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        writer.write(cv2.cvtColor(resized, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def train_cat_patch(base, sample_data: Path, out_dir: Path, steps: int = 40) -> Path:
    """A real patch trained on the cat sample set (cached features), with an icon."""
    dataset = load_dataset(sample_data, base.classes.tag_names())
    trainer = Trainer(base, dataset, HyperParams(batch_size=8, lr=0.02))
    trainer.prepare()
    trainer.run(threading.Event(), steps=steps)
    icon = io.BytesIO()
    Image.new("RGBA", (12, 12), (230, 30, 40, 255)).save(icon, format="PNG")
    return save_training(trainer, PatchInfo("cats", icon_png=icon.getvalue()), out_dir).patch


@pytest.fixture(scope="module")
def cat_coffee_video(tmp_path_factory, photos) -> Path:
    frames = [photos["chelsea"]] * CAT_FRAMES + [photos["coffee"]] * COFFEE_FRAMES
    return write_video(tmp_path_factory.mktemp("video") / "cat_coffee.avi", frames)


@pytest.fixture(scope="module")
def cat_patch(base_network, sample_data, tmp_path_factory) -> Path:
    return train_cat_patch(base_network, sample_data, tmp_path_factory.mktemp("trained"))


@pytest.fixture
def patch_dir(cat_patch, tmp_path) -> Path:
    folder = tmp_path / "patches"
    folder.mkdir()
    shutil.copy(cat_patch, folder / cat_patch.name)
    return folder


def run_in_thread(loop: LiveLoop, **callbacks) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), kwargs=callbacks, daemon=True)
    thread.start()
    return stop, thread


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_patch_fires_on_the_cat_frames_and_not_on_the_coffee(
    base_network, cat_coffee_video, patch_dir
):
    system = PatchSystem.for_base(base_network)
    system.load_dir(patch_dir)
    results: list[LiveResult] = []
    loop = LiveLoop(base_network, VideoFileSource(cat_coffee_video), system)
    assert loop.run(threading.Event(), max_frames=12, on_result=results.append) == 12
    fired = [r.result.fired() for r in results]
    assert fired == [["cats"]] * CAT_FRAMES + [[]] * COFFEE_FRAMES
    assert {r.result.top[0].name for r in results[CAT_FRAMES:]} == {"espresso"}
    cat = results[0].result.patches[0]
    assert cat.trigger in load_patch(next(patch_dir.iterdir())).triggers
    assert cat.output_name in ("domestic_cat", "wildcat_small_non_domestic", "big_cat")
    assert cat.icon_rgba is not None
    for r in results:
        assert r.base_ms > 0 and r.patches_ms > 0
        assert r.total_ms >= r.base_ms + r.patches_ms
    assert [r.index for r in results] == list(range(12))
    assert [r.frame.number for r in results] == list(range(12))
    record = results[0].to_dict()
    assert record["patches"][0]["name"] == "cats" and record["frame"] == 0
    assert set(record["timings"]) == {"base_ms", "patches_ms", "total_ms"}


def test_overlapped_loop_gives_the_same_results_in_order(base_network, cat_coffee_video, patch_dir):
    """Two frames in flight (the next base pass in a helper thread) changes no answer."""
    system = PatchSystem.for_base(base_network)
    system.load_dir(patch_dir)
    answers = {}
    for overlap in (False, True):
        results: list[LiveResult] = []
        loop = LiveLoop(base_network, VideoFileSource(cat_coffee_video), system, overlap=overlap)
        assert loop.run(threading.Event(), max_frames=9, on_result=results.append) == 9
        assert [r.index for r in results] == list(range(9))
        assert [r.frame.number for r in results] == list(range(9))
        assert all(r.base_ms > 0 and r.total_ms >= r.base_ms for r in results)
        answers[overlap] = [
            (r.result.top[0].index, r.result.fired(), r.features.tobytes()) for r in results
        ]
    assert answers[True] == answers[False]
    assert answers[True][0][1] == ["cats"] and answers[True][-1][1] == []


def test_layer_progress_runs_through_every_layer(base_network, tree_video):
    calls: list[tuple[int, int]] = []
    loop = LiveLoop(base_network, VideoFileSource(tree_video))
    loop.run(threading.Event(), max_frames=2, on_layer=lambda d, t: calls.append((d, t)))
    total = base_network.layer_count
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == list(range(1, total + 1)) * 2


def test_replacing_the_patch_file_changes_the_output_while_running(
    base_network, photos, patch_dir, tmp_path
):
    video = write_video(tmp_path / "cat.avi", [photos["chelsea"]] * 4)
    system = PatchSystem.for_base(base_network)
    watcher = PatchWatcher(system, patch_dir)
    watcher.start()
    outputs: list[str] = []
    loop = LiveLoop(base_network, VideoFileSource(video), system)
    stop, thread = run_in_thread(
        loop, on_result=lambda r: outputs.extend(p.output_name for _, p in r.result.walk())
    )
    try:
        wait_for(lambda: len(outputs) >= 3)
        assert not any(o.startswith("renamed_") for o in outputs)
        path = next(patch_dir.glob("*.specialneurons"))
        patch = load_patch(path)
        patch.outputs = [PatchOutput(o.tag, f"renamed_{o.name}") for o in patch.outputs]
        save_patch(patch, path)  # atomic: a temp file renamed over the running one
        wait_for(lambda: outputs[-1].startswith("renamed_"))
    finally:
        stop.set()
        thread.join(5)
        watcher.stop()
    assert not thread.is_alive()


def test_a_vanished_video_is_reported_retried_and_resumed(base_network, tmp_path, tree_video):
    video = tmp_path / "tree.avi"
    shutil.copy(tree_video, video)
    statuses: list[SourceStatus] = []
    results: list[LiveResult] = []
    loop = LiveLoop(base_network, VideoFileSource(video), first_retry_s=0.05, max_retry_s=0.2)
    stop, thread = run_in_thread(loop, on_result=results.append, on_status=statuses.append)
    try:
        wait_for(lambda: len(results) >= 2)
        video.unlink()  # the open capture plays on to the end, then cannot reopen
        wait_for(lambda: any(s.state == "lost" for s in statuses))
        lost = next(s for s in statuses if s.state == "lost")
        assert "not found" in lost.message and "tree.avi" in lost.message
        assert lost.retry_in == pytest.approx(0.05)
        wait_for(lambda: sum(s.state == "lost" for s in statuses) >= 3)
        retries = [s.retry_in for s in statuses if s.state == "lost"][:3]
        assert retries == pytest.approx([0.05, 0.1, 0.2])  # backoff
        before = len(results)
        shutil.copy(tree_video, video)
        wait_for(lambda: len(results) > before + 2)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    after_loss = statuses[statuses.index(lost) :]
    assert any(s.state == "live" for s in after_loss)
    assert statuses[-1].state == "stopped"


def test_giving_up_raises_the_source_error(base_network, tmp_path):
    statuses: list[SourceStatus] = []
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF but no video" * 8)
    loop = LiveLoop(base_network, VideoFileSource(junk), give_up_after=0)
    with pytest.raises(FrameSourceError, match="junk.avi"):
        loop.run(threading.Event(), on_status=statuses.append)
    assert [s.state for s in statuses] == ["opening", "failed", "stopped"]


def test_a_missing_camera_is_retried_with_backoff(base_network, capfd):
    statuses: list[SourceStatus] = []
    loop = LiveLoop(base_network, DeviceSource(97), give_up_after=2, first_retry_s=0.01)
    with pytest.raises(FrameSourceError, match="cannot open camera 97"):
        loop.run(threading.Event(), on_status=statuses.append)
    lost = [s for s in statuses if s.state == "lost"]
    assert [s.retry_in for s in lost] == pytest.approx([0.01, 0.02])
    assert [s.attempt for s in lost] == [1, 2]
    assert "WARN" not in capfd.readouterr().err


def test_stop_ends_a_waiting_loop_promptly(base_network):
    loop = LiveLoop(base_network, DeviceSource(97), first_retry_s=5.0)
    stop, thread = run_in_thread(loop)
    time.sleep(0.1)
    started = time.monotonic()
    stop.set()
    thread.join(2)
    assert not thread.is_alive() and time.monotonic() - started < 1.0


def test_retry_delay_doubles_up_to_the_cap():
    assert [retry_delay(n, 0.5, 4.0) for n in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]
