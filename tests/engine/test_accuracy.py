"""Accuracy the user can trust: trigger coverage, suggested triggers, end-to-end validation
and early stopping, on the real sample photos (and copies of them with trigger rows removed)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from neuralpatch.engine.base_head import BaseHead
from neuralpatch.engine.dataset import MAP_NAME, load_dataset
from neuralpatch.engine.dataset_report import check_dataset
from neuralpatch.engine.early_stopping import EarlyStopping
from neuralpatch.engine.evaluation import evaluate
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, patch_from_trainer
from neuralpatch.engine.trigger_suggestion import suggest_triggers, write_triggers

# The base network's usual answers for the sample photos: without them domestic cats and
# leopards mostly do not trigger the patch.
REMOVED = ("n02123045", "n02123159", "n02124075", "n02129165", "n02128385")


def low_coverage_copy(sample_data: Path, folder: Path) -> Path:
    shutil.copytree(sample_data, folder)
    rows = (folder / MAP_NAME).read_text().splitlines()
    kept = [row for row in rows if row.split()[0] not in REMOVED]
    (folder / MAP_NAME).write_text("\n".join(kept) + "\n")
    return folder


@pytest.fixture(scope="module")
def low_coverage(sample_data, tmp_path_factory) -> Path:
    return low_coverage_copy(sample_data, tmp_path_factory.mktemp("low") / "cats")


def test_coverage_is_what_a_fresh_base_pass_says(base_network, low_coverage):
    dataset = load_dataset(low_coverage, base_network.classes.tag_names())
    report = check_dataset(base_network, dataset)
    triggers = set(dataset.triggers)
    for category, cov in zip(dataset.outputs, report.coverage.outputs, strict=True):
        out = base_network.run([decode_image(p) for p in category.images])
        top = [base_network.classes.tags[i] for i in out.probabilities.argmax(axis=1)]
        assert cov.images == len(category.images)
        assert cov.covered == sum(t in triggers for t in top)
    assert report.coverage.fraction < 0.6
    assert any("trigger coverage of domestic_cat" in p for p in report.problems)
    assert report.to_dict()["trigger_coverage"]["covered"] == report.coverage.covered


def test_suggested_triggers_reach_the_coverage_and_write_a_valid_map(
    base_network, sample_data, tmp_path
):
    folder = low_coverage_copy(sample_data, tmp_path / "cats")
    before_rows = (folder / MAP_NAME).read_text().splitlines()
    names = base_network.classes.tag_names()
    dataset = load_dataset(folder, names)
    report = check_dataset(base_network, dataset)
    head = BaseHead.for_base(base_network)
    suggestion = suggest_triggers(head, dataset, report.features, names, target=0.9)
    assert suggestion.before.fraction < 0.6
    assert all(o.fraction >= 0.9 for o in suggestion.after.outputs)
    assert len(suggestion.added) >= 2 and "n02124075" in suggestion.triggers  # Egyptian cat
    assert sum(s.photos for s in suggestion.added) == (
        suggestion.after.covered - suggestion.before.covered
    )
    write_triggers(dataset, suggestion.added)
    rows = (folder / MAP_NAME).read_text().splitlines()
    assert rows[: len(before_rows)] == before_rows
    again = load_dataset(folder, names)
    assert set(suggestion.triggers) <= set(again.triggers)
    assert check_dataset(base_network, again).coverage.fraction == suggestion.after.fraction


def test_validation_counts_untriggered_photos_as_wrong_and_equals_eval(base_network, low_coverage):
    dataset = load_dataset(low_coverage, base_network.classes.tag_names())
    trainer = Trainer(base_network, dataset, HyperParams(batch_size=8, lr=0.02))
    trainer.prepare()
    trainer.run(threading.Event(), steps=60)
    validation = trainer.validation()
    untriggered = int((~trainer.val_fired).sum())
    assert untriggered > 0 and validation.report.not_triggered == untriggered
    assert validation.end_to_end < validation.when_triggered
    assert trainer.last_report.val_accuracy == validation.end_to_end
    samples = [(p, dataset.outputs[k].tag) for p, k in trainer.val_samples]
    patch = patch_from_trainer(trainer, PatchInfo("cats"))
    report = evaluate(base_network, patch, dataset, samples)
    np.testing.assert_array_equal(report.confusion, validation.report.confusion)
    assert report.end_to_end_accuracy == trainer.last_report.val_accuracy
    assert report.accuracy == trainer.last_report.val_when_triggered


def test_default_training_stops_by_itself_and_keeps_the_best_weights(base_network, sample_data):
    dataset = load_dataset(sample_data, base_network.classes.tag_names())
    trainer = Trainer(base_network, dataset, HyperParams(batch_size=8, lr=0.5, momentum=0.9))
    trainer.early_stopping = EarlyStopping(patience=5)
    trainer.prepare()
    seen: list[tuple[int, float | None, float | None]] = []
    original = trainer._early_stop

    def spy(early):
        stop = original(early)
        if not stop:
            v = trainer.held_out.last
            seen.append((trainer.state.step, v.end_to_end, v.loss))
        return stop

    trainer._early_stop = spy
    done = trainer.run(threading.Event())  # no step count: it must end by itself
    assert (
        0 < done < 100_000
        and trainer.stop_reason
        and "kept the best weights" in (trainer.stop_reason)
    )
    early = trainer.early_stopping
    assert early.since_best == 5
    best = max(seen, key=lambda s: (s[1], -s[2]))
    final = trainer.validation()
    assert early.best_step <= trainer.state.step - 5 * 10
    assert final.end_to_end == best[1] == early.best[0]
    assert final.loss == pytest.approx(-early.best[1], rel=1e-5)
