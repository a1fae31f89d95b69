"""Training at scale and across sessions, on the real sample photos: the features held as one
array in input order, validation on a clock that keeps its share of the time small, and a
resumed run that goes on counting steps and training time from its snapshot."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.feature_cache import FeatureCache
from neuralpatch.engine.held_out import VALIDATE_INTERVAL_S, ValidationClock
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.snapshot import load_snapshot
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_features import training_features
from neuralpatch.engine.training_files import PatchInfo, resume_from, save_training


@pytest.fixture
def dataset(base_network, sample_data):
    return load_dataset(sample_data, base_network.classes.tag_names())


def test_features_are_one_array_in_input_order_without_the_broken_photo(
    base_network, sample_data, tmp_path
):
    broken = tmp_path / "n02121808_999.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    paths = sorted(sample_data.glob("*.jpg"))[:6]
    paths.insert(3, broken)
    matrix, failed = training_features(base_network, paths)
    expected = FeatureCache(base_network).features_for(paths).features
    assert list(failed) == [broken] and matrix.paths == [p for p in paths if p != broken]
    assert matrix.rows.shape == (6, base_network.feature_dim)
    np.testing.assert_array_equal(matrix.rows, np.stack([expected[p] for p in matrix.paths]))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_validation_clock_keeps_validation_a_small_share_of_the_time():
    clock = Clock()
    schedule = ValidationClock(share=0.05, clock=clock)
    assert schedule.due()  # never validated yet
    schedule.ran(0.001)  # a small split: the shortest wait applies
    clock.now += VALIDATE_INTERVAL_S - 0.01
    assert not schedule.due()
    clock.now += 0.02
    assert schedule.due()
    schedule.ran(0.5)  # a large split: wait 20 times as long as it took
    clock.now += 9.9
    assert not schedule.due()
    clock.now += 0.2
    assert schedule.due()


def test_validation_is_scored_on_the_stacked_split_and_untriggered_photos_are_misses(
    base_network, dataset
):
    trainer = Trainer(base_network, dataset, HyperParams(batch_size=8, lr=0.02))
    trainer.prepare()
    trainer.run(threading.Event(), steps=40)
    held = trainer.held_out
    assert np.shares_memory(held.features, trainer.features.rows)  # a view, not a copy
    v = trainer.validation()
    guesses = np.where(
        held.fired, trainer.state.patch.probabilities(held.features).argmax(1), len(trainer.outputs)
    )
    assert v.end_to_end == pytest.approx(float(np.mean(guesses == held.labels)))


def test_a_resumed_run_continues_its_step_count_and_training_time(base_network, dataset, tmp_path):
    trainer = Trainer(base_network, dataset, HyperParams(batch_size=8, lr=0.02))
    trainer.prepare()
    trainer.run(threading.Event(), steps=300)
    elapsed = trainer.state.elapsed_s
    assert elapsed > 0 and trainer.last_report.elapsed_s == elapsed
    saved = save_training(trainer, PatchInfo("cats"), tmp_path)
    assert load_snapshot(saved.snapshot).hyper["elapsed_s"] == elapsed

    resumed = resume_from(saved.snapshot)
    again = Trainer(
        base_network, dataset, resumed.params, resumed.state, resumed.seed, resumed.val_fraction
    )
    before = again.current_report()  # what the status shows before the first new step
    assert (before.step, before.elapsed_s) == (300, elapsed)
    assert before.rolling_loss == trainer.state.losses.rolling
    steps, losses = again.state.losses.curve()
    assert steps[-1] == 300 and steps == sorted(set(steps)) and len(losses) == len(steps)
    again.prepare()
    again.run(threading.Event(), steps=5)
    assert again.last_report.step == 305 and again.last_report.elapsed_s > elapsed


def test_a_snapshot_with_a_bad_training_time_is_refused(base_network, dataset, tmp_path):
    from neuralpatch.engine.errors import PatchFormatError
    from neuralpatch.engine.snapshot import save_snapshot

    trainer = Trainer(base_network, dataset, HyperParams(batch_size=8))
    snap = load_snapshot(save_training(trainer, PatchInfo("cats"), tmp_path).snapshot)
    snap.hyper["elapsed_s"] = -1.0
    with pytest.raises(PatchFormatError, match="elapsed_s = -1.0 is outside"):
        save_snapshot(snap, tmp_path / "bad.npsnapshot")
