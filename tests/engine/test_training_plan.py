"""A run is checked when it starts, not when it ends: what the writers would refuse is refused
before step 1, and one refused file never takes the other with it."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from neuralpatch.engine.checkpoints import MIN_INTERVAL_S, Checkpoints
from neuralpatch.engine.errors import PatchFormatError, SettingError
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.patch_file import MAX_DESCRIPTION_LEN, MAX_NAME_LEN, load_patch
from neuralpatch.engine.snapshot import load_snapshot
from neuralpatch.engine.training_files import SnapshotNotSaved, write_training
from neuralpatch.engine.training_plan import TrainingOptions, plan_training
from neuralpatch.engine.training_state import StepReport


def options(data: Path, out: Path, **changes) -> TrainingOptions:
    return TrainingOptions(str(data), HyperParams(batch_size=8), out=str(out), **changes)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"name": "x" * (MAX_NAME_LEN + 1)}, "'name' is longer than"),
        ({"description": "x" * (MAX_DESCRIPTION_LEN + 1)}, "'description' is longer than"),
    ],
)
def test_names_over_the_format_limits_are_refused_before_training(
    base_network, sample_data, tmp_path, change, words
):
    with pytest.raises(PatchFormatError, match=words):
        plan_training(options(sample_data, tmp_path / "out", **change), base_network)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_category_name_over_the_limit_is_refused_before_training(
    base_network, sample_data, tmp_path
):
    data = tmp_path / "data"
    shutil.copytree(sample_data, data)
    map_path = data / "map_clsloc.txt"
    long_name = "big_cat_" + "x" * MAX_NAME_LEN
    map_path.write_text(map_path.read_text().replace(" big_cat", f" {long_name}"))
    with pytest.raises(PatchFormatError, match=r"outputs\[2\].name' is longer than"):
        plan_training(options(data, tmp_path / "out"), base_network)


def test_a_long_folder_name_is_shortened_for_the_default_patch_name(
    base_network, sample_data, tmp_path
):
    data = tmp_path / ("cats_" + "x" * 230)
    shutil.copytree(sample_data, data)
    plan = plan_training(options(data, tmp_path / "out"), base_network)
    assert plan.info.name == data.name[:MAX_NAME_LEN]


def test_a_refused_snapshot_leaves_the_plugin_saved(base_network, sample_data, tmp_path):
    plan = plan_training(options(sample_data, tmp_path), base_network)
    plan.trainer.prepare()
    plan.trainer.run(threading.Event(), steps=3)
    patch = tmp_path / "cats.specialneurons"
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(SnapshotNotSaved, match="the patch was") as refused:
        write_training(plan.trainer, plan.info, patch, blocked / "cats.npsnapshot")
    assert refused.value.patch == patch and load_patch(patch).name == "sample_data"


def test_bad_run_options_are_refused_when_made(sample_data):
    for change, words in (
        ({"steps": 0}, "--steps"),
        ({"epochs": float("inf")}, "--epochs"),
        ({"seed": -1}, "--seed"),
        ({"val_fraction": 1.0}, "--val-fraction"),
        ({"checkpoint_every": -1.0}, "--checkpoint-every"),
    ):
        with pytest.raises(SettingError, match=words):
            TrainingOptions(str(sample_data), **change)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def report(step: int, accuracy: float | None) -> StepReport:
    return StepReport(step, 0.0, 1.0, 1.0, 100.0, 0.0, accuracy)


def test_checkpoints_come_on_a_clock_and_at_improvements(base_network, sample_data, tmp_path):
    plan = plan_training(options(sample_data, tmp_path), base_network)
    plan.trainer.prepare()
    plan.trainer.run(threading.Event(), steps=2)
    clock = Clock()
    checkpoints = Checkpoints(plan.trainer, plan.info, tmp_path, interval_s=300, clock=clock)
    clock.now = 10.0
    assert not checkpoints.after_step(report(2, 0.5))  # improved, but too soon after start
    clock.now = MIN_INTERVAL_S + 1
    assert checkpoints.after_step(report(2, 0.6))  # improved
    clock.now += MIN_INTERVAL_S + 1
    assert not checkpoints.after_step(report(2, 0.6))  # no better, interval not reached
    clock.now += 300
    assert checkpoints.after_step(report(2, 0.4))  # the interval
    assert load_snapshot(checkpoints.files.snapshot).step == 2
    assert load_patch(checkpoints.files.patch).name == "sample_data"
    checkpoints.discard()
    assert not checkpoints.files.snapshot.exists() and not checkpoints.files.patch.exists()
