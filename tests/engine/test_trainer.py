"""Training a patch on real photos through the real OpenCL base pass."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.errors import DatasetError, SettingError
from neuralpatch.engine.feature_cache import FeatureCache
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.patch_file import load_patch
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, resume_from, save_training


@pytest.fixture(scope="module")
def dataset(base_network, sample_data):
    return load_dataset(sample_data, base_network.classes.tag_names())


@pytest.fixture
def trainer(base_network, dataset) -> Trainer:
    t = Trainer(base_network, dataset, HyperParams(batch_size=8, lr=0.02))
    t.prepare()
    return t


def test_training_lowers_the_loss_and_beats_chance(trainer: Trainer):
    trainer.run(threading.Event(), steps=60)
    losses = trainer.state.losses.points()
    assert len(losses) == 60 and np.mean(losses[:5]) > 2 * np.mean(losses[-5:])
    accuracy, per_class = trainer.validate()
    assert accuracy is not None and accuracy > 0.6  # chance is 1/3
    assert len(per_class) == 3 and len(trainer.val_samples) == 9


def test_features_come_from_the_cache_the_second_time(base_network, dataset, tmp_path):
    cache = FeatureCache(base_network, tmp_path)
    paths = [p for p, _ in dataset.samples()[:5]]
    first = cache.features_for(paths)
    second = cache.features_for(paths)
    assert first.computed == 5 and second.computed == 0
    for path in paths:
        np.testing.assert_array_equal(first.features[path], second.features[path])


def test_features_match_a_fresh_base_pass(base_network, trainer: Trainer):
    from neuralpatch.engine.image_io import decode_image

    path = trainer.train_samples[0][0]
    fresh = base_network.run([decode_image(path)]).features[0]
    np.testing.assert_allclose(trainer.features[path], fresh, atol=1e-4)


def test_resume_continues_the_loss_curve_exactly(base_network, dataset, trainer, tmp_path):
    stop = threading.Event()
    trainer.run(stop, steps=12)
    saved = save_training(trainer, PatchInfo("cats"), tmp_path)
    trainer.run(stop, steps=8)
    resumed = resume_from(saved.snapshot)
    again = Trainer(
        base_network, dataset, resumed.params, resumed.state, resumed.seed, resumed.val_fraction
    )
    again.prepare()
    assert again.state.step == 12
    again.run(stop, steps=8)
    assert again.state.losses == trainer.state.losses
    np.testing.assert_array_equal(again.state.patch.weights, trainer.state.patch.weights)


def test_saved_plugin_holds_triggers_outputs_and_fingerprint(trainer, base_network, tmp_path):
    trainer.run(threading.Event(), steps=3)
    saved = save_training(trainer, PatchInfo("cats", "domestic, small wild or big"), tmp_path)
    patch = load_patch(saved.patch)
    assert [o.name for o in patch.outputs] == [
        "domestic_cat",
        "wildcat_small_non_domestic",
        "big_cat",
    ]
    assert "n02123045" in patch.triggers and "n02121808" not in patch.triggers
    assert patch.base_fingerprint == base_network.fingerprint
    np.testing.assert_array_equal(patch.weights, trainer.state.patch.weights)
    assert saved.patch.stem == saved.snapshot.stem  # same time-based hash


def test_stop_event_and_live_hyper_parameters(trainer: Trainer):
    stop = threading.Event()
    seen: list[float] = []

    def on_step(report):
        seen.append((trainer.params.lr, report.changed))
        trainer.request_change(lr=0.5)  # applies from the next step
        if report.step == 4:
            stop.set()

    assert trainer.run(stop, on_step=on_step) == 4
    assert seen == [(0.02, {}), (0.5, {"lr": 0.5}), (0.5, {}), (0.5, {})]


def test_augmented_steps_run_the_base_pass(trainer: Trainer):
    trainer.request_change(augment=True, batch_size=2)
    shown = []
    trainer.run(threading.Event(), steps=1, on_sample=shown.append)
    assert shown and shown[0].image is not None and shown[0].image.dtype == np.uint8
    cached = trainer.features[shown[0].path]
    position = [p for p, _ in trainer.train_samples].index(shown[0].path)
    features, _ = trainer._batch_features(np.array([position]))
    assert not np.allclose(features[0], cached, atol=1e-3)  # a new random view


def test_undecodable_photos_are_skipped_and_reported(base_network, sample_data, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(sample_data, folder)
    broken = folder / "n02121808_999.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    t = Trainer(base_network, load_dataset(folder, base_network.classes.tag_names()))
    t.prepare()
    assert broken in t.failed
    assert all(p != broken for p, _ in t.train_samples + t.val_samples)


@pytest.mark.parametrize(
    "field, value",
    [("lr", 0.0), ("momentum", 1.5), ("decay", -1.0), ("batch_size", 0), ("lr", float("nan"))],
)
def test_bad_hyper_parameters_are_refused(field, value):
    with pytest.raises(SettingError, match=field.replace("_", " ")):
        HyperParams(**{field: value})


def test_a_snapshot_for_other_outputs_is_refused(base_network, dataset, trainer, tmp_path):
    saved = save_training(trainer, PatchInfo("cats"), tmp_path)
    resumed = resume_from(saved.snapshot)
    resumed.state.output_tags = ["n1", "n2", "n3"]
    with pytest.raises(DatasetError, match="trained on outputs n1 n2 n3"):
        Trainer(base_network, dataset, resumed.params, resumed.state)


def test_cheap_outputs_written_where_asked(tmp_path: Path, trainer):
    saved = save_training(trainer, PatchInfo("ünïcode / name"), tmp_path / "new")
    assert saved.patch.parent == tmp_path / "new" and "/" not in saved.patch.name


def test_validation_is_throttled_but_the_final_report_is_fresh(base_network, dataset):
    class Counting(Trainer):
        validations = 0

        def validation(self):
            Counting.validations += 1
            return super().validation()

    trainer = Counting(base_network, dataset, HyperParams(batch_size=8, lr=0.02))
    trainer.prepare()
    trainer.run(threading.Event(), steps=200)  # cached steps: far under the interval each
    assert Counting.validations < 50
    assert (trainer.last_report.val_accuracy, trainer.last_report.per_class_accuracy) == (
        Trainer.validate(trainer)
    )
