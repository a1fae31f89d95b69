"""Hot reload of a patch folder with real patches trained here on sample_data photos.

Waits poll with a timeout; nothing sleeps for a fixed long time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.errors import NeuralpatchError
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.patch_file import PatchFile, save_patch
from neuralpatch.engine.patch_system import PatchEvent, PatchSystem
from neuralpatch.engine.patch_watcher import PatchWatcher
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, patch_from_trainer

TIMEOUT_S = 5.0
QUIET_S = 0.25


def train(base, sample_data: Path, steps: int, seed: int) -> PatchFile:
    trainer = Trainer(
        base,
        load_dataset(sample_data, base.classes.tag_names()),
        HyperParams(batch_size=8, lr=0.01),
        seed=seed,
    )
    trainer.prepare()
    trainer.run(threading.Event(), steps=steps)
    return patch_from_trainer(trainer, PatchInfo("felix cats"))


@pytest.fixture(scope="module")
def first(base_network, sample_data) -> PatchFile:
    return train(base_network, sample_data, steps=20, seed=0)


@pytest.fixture(scope="module")
def retrained(base_network, sample_data) -> PatchFile:
    return train(base_network, sample_data, steps=40, seed=1)


@pytest.fixture(scope="module")
def chelsea(base_network, photos) -> tuple[np.ndarray, np.ndarray]:
    out = base_network.run([photos["chelsea"]])
    return out.probabilities[0], out.features[0]


class Recorder:
    """A listener that keeps every event, and waits for the ones a test expects."""

    def __init__(self) -> None:
        self.events: list[PatchEvent] = []

    def __call__(self, event: PatchEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def wait_for(self, count: int, settle: bool = False) -> list[PatchEvent]:
        """Wait until `count` events came; `settle` waits two more quiet windows for extras."""
        assert wait_until(lambda: len(self.events) >= count), f"only got {self.kinds()}"
        if settle:
            time.sleep(2 * QUIET_S)
        return self.events


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@dataclass
class Watched:
    system: PatchSystem
    watcher: PatchWatcher
    recorder: Recorder
    folder: Path


@pytest.fixture
def watched(base_network, tmp_path):
    system = PatchSystem.for_base(base_network)
    watcher = PatchWatcher(system, tmp_path, quiet_s=QUIET_S)
    recorder = watcher.add_listener(Recorder())
    with watcher:
        yield Watched(system, watcher, recorder, tmp_path)
    assert not watcher.running


def running_weights(system: PatchSystem) -> np.ndarray:
    (loaded,) = system.index.enabled
    return loaded.patch.weights


def test_add_replace_and_delete_are_picked_up(watched, first, retrained, chelsea):
    system, recorder, folder = watched.system, watched.recorder, watched.folder
    path = folder / "felix_cats.specialneurons"
    save_patch(first, path)
    assert [(e.kind, e.path, e.name) for e in recorder.wait_for(1)] == [
        ("loaded", path, "felix cats")
    ]
    assert system.classify(*chelsea).fired() == ["felix cats"]
    save_patch(retrained, path)  # atomic: a temp file renamed over the old one
    assert recorder.wait_for(2)[1].kind == "replaced"
    np.testing.assert_array_equal(running_weights(system), retrained.weights)
    path.unlink()
    assert recorder.wait_for(3, settle=True)[2].kind == "removed"
    assert system.patches == () and system.classify(*chelsea).fired() == []
    assert recorder.kinds() == ["loaded", "replaced", "removed"]


def test_a_truncated_or_invalid_file_keeps_the_previous_version(watched, first, retrained, chelsea):
    system, recorder, folder = watched.system, watched.recorder, watched.folder
    path = folder / "felix_cats.specialneurons"
    save_patch(first, path)
    recorder.wait_for(1)
    good = path.read_bytes()
    with open(path, "wb") as f:  # a writer caught half way, not atomic
        f.write(good[: len(good) // 3])
    event = recorder.wait_for(2)[1]
    assert event.kind == "rejected" and event.path == path and "truncated" in event.reason
    assert "the previous version keeps running" in event.reason
    np.testing.assert_array_equal(running_weights(system), first.weights)
    assert system.classify(*chelsea).fired() == ["felix cats"]
    path.write_bytes(b"this is not a patch at all")
    event = recorder.wait_for(3)[2]
    assert event.kind == "rejected" and "not a neuralpatch file" in event.reason
    assert "not a neuralpatch file" in system.rejected[path]
    np.testing.assert_array_equal(running_weights(system), first.weights)
    save_patch(retrained, path)
    assert recorder.wait_for(4, settle=True)[3].kind == "replaced" and system.rejected == {}
    assert recorder.kinds() == ["loaded", "rejected", "rejected", "replaced"]
    np.testing.assert_array_equal(running_weights(system), retrained.weights)


def test_a_new_invalid_file_loads_once_it_is_valid(watched, first):
    system, recorder, folder = watched.system, watched.recorder, watched.folder
    path = folder / "new.specialneurons"
    data = save_patch(first, folder / "elsewhere.bin").read_bytes()
    path.write_bytes(data[:100])
    assert recorder.wait_for(1)[0].kind == "rejected" and system.patches == ()
    path.write_bytes(data)
    assert recorder.wait_for(2)[1].kind == "loaded"
    assert [p.path for p in system.patches] == [path]


def test_ten_quick_saves_are_one_reload(watched, first):
    system, recorder, folder = watched.system, watched.recorder, watched.folder
    path = folder / "felix_cats.specialneurons"
    versions = [replace(first, bias=first.bias + i) for i in range(10)]
    gaps, last = [], time.monotonic()
    for version in versions:
        save_patch(version, path)
        gaps.append(time.monotonic() - last)
        last = time.monotonic()
    recorder.wait_for(1, settle=True)
    if max(gaps) >= QUIET_S:  # a stalled disk split the burst: then each part reloads once
        assert len(recorder.events) <= 1 + sum(g >= QUIET_S for g in gaps)
    else:
        assert recorder.kinds() == ["loaded"]
    np.testing.assert_array_equal(system.index.enabled[0].patch.bias, versions[-1].bias)


def test_temp_files_and_other_names_do_not_count(watched, first):
    system, recorder, folder = watched.system, watched.recorder, watched.folder
    data = save_patch(first, folder / "elsewhere.bin").read_bytes()
    (folder / ".felix.specialneurons.x1y2.tmp").write_bytes(data)
    (folder / ".hidden.specialneurons").write_bytes(data)
    (folder / "notes.txt").write_text("not a patch")
    (folder / "felix.npsnapshot").write_bytes(data)
    time.sleep(3 * QUIET_S)
    assert recorder.events == [] and system.patches == ()


def test_a_failing_listener_does_not_stop_the_watcher(watched, first, caplog):
    system, recorder, folder = watched.system, watched.recorder, watched.folder
    calls = []

    def broken(event: PatchEvent) -> None:
        calls.append(event)
        raise RuntimeError("listener bug")

    watched.watcher.remove_listener(recorder)
    watched.watcher.add_listener(broken)  # first, so the recorder runs after it fails
    watched.watcher.add_listener(recorder)
    with caplog.at_level(logging.ERROR, logger="neuralpatch.engine.patch_watcher"):
        save_patch(first, folder / "a.specialneurons")
        recorder.wait_for(1)
        save_patch(replace(first, name="other cats"), folder / "b.specialneurons")
        recorder.wait_for(2, settle=True)
    assert len(calls) == 2 and recorder.kinds() == ["loaded", "loaded"]
    assert "listener bug" in caplog.text and len(system.patches) == 2


def test_a_file_saved_while_starting_is_not_missed(base_network, first, tmp_path):
    save_patch(first, tmp_path / "early.specialneurons")
    system = PatchSystem.for_base(base_network)
    watcher = PatchWatcher(system, tmp_path)
    events = watcher.start()
    try:
        assert [e.kind for e in events] == ["loaded"]
        save_patch(replace(first, name="late cats"), tmp_path / "late.specialneurons")
        assert wait_until(lambda: len(system.patches) == 2)
    finally:
        watcher.stop()
        watcher.stop()
    assert not watcher.running


def test_a_missing_folder_is_an_error_naming_it(base_network, tmp_path):
    watcher = PatchWatcher(PatchSystem.for_base(base_network), tmp_path / "nope")
    with pytest.raises(NeuralpatchError, match="nope: the patch folder does not exist"):
        watcher.start()
    assert not watcher.running and not os.path.exists(tmp_path / "nope")


def test_a_removed_folder_unloads_and_a_recreated_one_loads_again(
    base_network, tmp_path, first, chelsea
):
    folder = tmp_path / "patches"
    folder.mkdir()
    save_patch(first, folder / "felix_cats.specialneurons")
    (folder / "broken.specialneurons").write_bytes(b"nonsense")
    system = PatchSystem.for_base(base_network)
    watcher = PatchWatcher(system, folder, quiet_s=QUIET_S)
    recorder = watcher.add_listener(Recorder())
    with watcher:
        assert sorted(recorder.kinds()) == ["loaded", "rejected"]
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
        assert wait_until(lambda: system.patches == () and not system.rejected)
        assert system.classify(*chelsea).fired() == []
        folder.mkdir()
        save_patch(first, folder / "felix_cats.specialneurons")
        assert wait_until(lambda: system.classify(*chelsea).fired() == ["felix cats"]), (
            system.patches,
            system.rejected,
            recorder.kinds(),
        )
        save_patch(first, folder / "again.specialneurons")  # watched again, not only loaded
        assert wait_until(lambda: len(system.patches) == 2)
    assert "removed" in recorder.kinds() and recorder.kinds()[-1] in ("loaded", "disabled")
