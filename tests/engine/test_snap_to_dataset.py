"""Snapping frames into real dataset folders, and where the datasets on offer come from."""

from __future__ import annotations

import errno
import json
import re
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.snap_to_dataset import (
    SnapError,
    dataset_of_patch,
    find_targets,
    save_snap,
    snap_name,
)
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, save_training
from neuralpatch.main import main

DOMESTIC = "n02121808"


@pytest.fixture
def dataset_copy(sample_data, tmp_path) -> Path:
    folder = tmp_path / "felix_cats"
    shutil.copytree(sample_data, folder)
    return folder


@pytest.fixture(scope="module")
def trained(base_network, sample_data, tmp_path_factory) -> Path:
    """A patch and its snapshot, as `neuralpatch train` leaves them side by side."""
    trainer = Trainer(
        base_network,
        load_dataset(sample_data, base_network.classes.tag_names()),
        HyperParams(batch_size=8),
    )
    trainer.prepare()
    trainer.run(threading.Event(), steps=2)
    return save_training(trainer, PatchInfo("cats"), tmp_path_factory.mktemp("out")).patch


def test_snap_name_is_tag_and_utc_timestamp():
    when = datetime(2025, 6, 11, 14, 23, 55, 123456, tzinfo=UTC)
    assert snap_name(DOMESTIC, when) == "n02121808_20250611T142355123456Z.jpg"


def test_snap_lands_in_the_dataset_and_is_counted(base_network, dataset_copy, photos, capsys):
    before = load_dataset(dataset_copy, base_network.classes.tag_names())
    count = {c.tag: len(c.images) for c in before.outputs}
    path = save_snap(photos["chelsea"], dataset_copy, DOMESTIC)
    assert path.parent == dataset_copy
    assert re.fullmatch(r"n02121808_\d{8}T\d{12}Z\.jpg", path.name)
    assert decode_image(path).shape == photos["chelsea"].shape
    assert path.stat().st_mode & 0o777 == 0o644  # readable like the dataset's other photos
    after = load_dataset(dataset_copy, base_network.classes.tag_names())
    domestic = next(c for c in after.outputs if c.tag == DOMESTIC)
    assert path in domestic.images and len(domestic.images) == count[DOMESTIC] + 1
    assert not after.problems
    assert main(["dataset", "check", str(dataset_copy), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {o["tag"]: o["images"] for o in report["outputs"]}[DOMESTIC] == count[DOMESTIC] + 1


def test_snap_never_overwrites(dataset_copy, photos):
    when = datetime(2025, 1, 1, tzinfo=UTC)
    first = save_snap(photos["chelsea"], dataset_copy, DOMESTIC, when=when)
    second = save_snap(photos["coffee"], dataset_copy, DOMESTIC, when=when)
    assert second.name == first.name[:-4] + "-1.jpg"
    assert decode_image(first).shape != decode_image(second).shape


def test_full_disk_is_a_snap_error_and_leaves_nothing_behind(dataset_copy, photos, monkeypatch):
    before = sorted(p.name for p in dataset_copy.iterdir())

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("neuralpatch.engine.atomic.os.fsync", full)
    with pytest.raises(SnapError, match="the disk is full") as error:
        save_snap(photos["chelsea"], dataset_copy, DOMESTIC)
    assert error.value.path is not None and error.value.path.parent == dataset_copy
    assert sorted(p.name for p in dataset_copy.iterdir()) == before


def test_read_only_or_missing_folder_is_a_snap_error(dataset_copy, photos, monkeypatch, tmp_path):
    with pytest.raises(SnapError, match="does not exist"):
        save_snap(photos["chelsea"], tmp_path / "nowhere", DOMESTIC)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    # Tests may run as root, where chmod cannot make a folder read-only: refuse at the source.
    monkeypatch.setattr("neuralpatch.engine.atomic.tempfile.mkstemp", read_only)
    with pytest.raises(SnapError, match="read-only"):
        save_snap(photos["chelsea"], dataset_copy, DOMESTIC)


def test_datasets_come_from_options_and_from_patch_snapshots(
    base_network, trained, sample_data, tmp_path
):
    tags = base_network.classes.tag_names()
    assert dataset_of_patch(trained) == sample_data.resolve()
    targets, problems = find_targets([sample_data], [("cats", trained)], tags)
    assert problems == [] and len(targets) == 1  # one folder, named twice
    target = targets[0]
    assert target.patches == ["cats"] and "cats" in target.label
    assert [c.tag for c in target.categories] == ["n02121808", "n02124623", "n02127808"]

    lonely = tmp_path / "lonely.specialneurons"
    shutil.copy(trained, lonely)  # no snapshot beside it: its dataset is unknown
    assert dataset_of_patch(lonely) is None
    (tmp_path / "not_a_dataset").mkdir()
    targets, problems = find_targets([tmp_path / "not_a_dataset"], [("cats", lonely)], tags)
    assert targets == [] and len(problems) == 1 and "map_clsloc.txt" in problems[0]


def test_snapped_pixels_survive_jpeg(dataset_copy):
    gradient = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3))
    path = save_snap(gradient, dataset_copy, DOMESTIC)
    assert np.abs(decode_image(path).astype(int) - gradient).mean() < 3
