"""Top-k triggering (`trigger_top_k` in the plugin file): a patch wakes when any of the base
network's k best classes is a trigger; validation, coverage and `eval` count photos the same
way, and files without the field still mean k = 1. Real photos, real base pass."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from neuralpatch.engine.base_head import BaseHead
from neuralpatch.engine.dataset import MAP_NAME, load_dataset
from neuralpatch.engine.dataset_report import check_dataset
from neuralpatch.engine.errors import PatchFormatError, SettingError
from neuralpatch.engine.evaluation import evaluate
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.patch_file import load_patch, save_patch
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.training_files import patch_from_trainer
from neuralpatch.engine.training_plan import TrainingOptions, plan_training

# The low-coverage variant of tests/engine/test_accuracy.py and benchmarks/accuracy_report.py:
# the base network's usual answers for the sample cats are no longer triggers.
REMOVED = ("n02123045", "n02123159", "n02124075", "n02129165", "n02128385")

# Base top-3 on this photo: tabby, tiger cat, Persian cat. Without tabby and tiger cat among
# the triggers only its third class is one.
TABBY_PHOTO = "n02121808_101.jpg"


@pytest.fixture(scope="module")
def low_coverage(sample_data, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("topk") / "cats"
    shutil.copytree(sample_data, folder)
    rows = (folder / MAP_NAME).read_text().splitlines()
    kept = [row for row in rows if row.split()[0] not in REMOVED]
    (folder / MAP_NAME).write_text("\n".join(kept) + "\n")
    return folder


def _with_header_field(path: Path, key: str, value: object) -> Path:
    """The file with one header field set, its payload hash still valid."""
    data = path.read_bytes()
    (length,) = struct.unpack_from("<I", data, 8)
    header, payload = json.loads(data[12 : 12 + length]), data[12 + length :]
    header[key] = value
    header["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    text = json.dumps(header).encode()
    out = path.with_name(f"forged_{key}.specialneurons")
    out.write_bytes(data[:8] + struct.pack("<I", len(text)) + text + payload)
    return out


def _cats_file(felix_patch, folder, k: int):
    """The felix patch with the low-coverage map's triggers, saved with this k."""
    triggers = [t for t in felix_patch.triggers if t not in REMOVED]
    patch = dataclasses.replace(felix_patch, triggers=triggers, trigger_top_k=k)
    return save_patch(patch, folder / f"cats_k{k}.specialneurons")


def test_a_k3_plugin_triggers_on_a_photo_whose_top1_is_no_trigger(
    base_network, felix_patch, sample_data, tmp_path
):
    out = base_network.run([decode_image(sample_data / TABBY_PHOTO)])
    head_tags = BaseHead.for_base(base_network).top_tags(out.features, 3)[0]
    triggers = {t for t in felix_patch.triggers if t not in REMOVED}
    assert head_tags[0] not in triggers and head_tags[1] not in triggers
    assert head_tags[2] in triggers  # the photo this test is about
    fired = {}
    for k in (1, 2, 3):
        folder = tmp_path / f"k{k}"
        folder.mkdir()
        path = _cats_file(felix_patch, folder, k)
        assert load_patch(path).trigger_top_k == k
        system = PatchSystem.for_base(base_network)
        assert [e.kind for e in system.load_dir(folder)] == ["loaded"]
        result = system.classify(out.probabilities[0], out.features[0])
        fired[k] = [(r.name, r.trigger) for r in result.patches]
    assert fired[1] == [] and fired[2] == []
    assert fired[3] == [("felix cats", head_tags[2])]  # woken by the class that is a trigger


def test_top_k_needs_the_minimum_probability_too(base_network, felix_patch, sample_data, tmp_path):
    out = base_network.run([decode_image(sample_data / TABBY_PHOTO)])
    third = float(np.sort(out.probabilities[0])[-3])
    _cats_file(felix_patch, tmp_path, 3)
    system = PatchSystem.for_base(base_network, min_probability=third * 0.9)
    system.load_dir(tmp_path)
    assert system.classify(out.probabilities[0], out.features[0]).patches
    system.set_min_probability(third * 1.1)  # the top-1 still passes, the trigger does not
    result = system.classify(out.probabilities[0], out.features[0])
    assert result.identified is not None and result.patches == []


def test_top1_and_top3_patches_with_the_same_triggers_run_apart(
    base_network, felix_patch, sample_data, tmp_path
):
    """A top-1 patch and a top-3 patch with the same triggers sit in different blocks; the
    top-3 one alone runs on the tabby photo, both run on a photo whose top-1 is a trigger."""
    _cats_file(felix_patch, tmp_path, 3)
    triggers = [t for t in felix_patch.triggers if t not in REMOVED]
    one = dataclasses.replace(felix_patch, name="cats top1", triggers=triggers)
    save_patch(one, tmp_path / "cats_top1.specialneurons")
    system = PatchSystem.for_base(base_network)
    system.load_dir(tmp_path)
    assert system.index.deepest == 3
    photos = [sample_data / TABBY_PHOTO, sample_data / "n02124623_218.jpg"]  # 2nd: a cougar
    out = base_network.run([decode_image(p) for p in photos])
    tabby, cougar = system.classify_pass(out)
    assert [r.name for r in tabby.patches] == ["felix cats"]
    assert sorted(r.name for r in cougar.patches) == ["cats top1", "felix cats"]


def test_files_without_the_field_mean_top1_and_bad_values_are_refused(felix_patch, tmp_path):
    path = save_patch(felix_patch, tmp_path / "old.specialneurons")
    assert b"trigger_top_k" not in path.read_bytes()  # a top-1 file is written as before
    assert load_patch(path).trigger_top_k == 1
    k3 = dataclasses.replace(felix_patch, trigger_top_k=3)
    assert load_patch(save_patch(k3, tmp_path / "k3.specialneurons")).trigger_top_k == 3
    for value, words in [
        (0, "'trigger_top_k' = 0 is outside [1, 10]"),
        (11, "'trigger_top_k' = 11 is outside [1, 10]"),
        (True, "'trigger_top_k' must be int, not bool"),
        (None, "'trigger_top_k' must be int, not NoneType"),
        (2.0, "'trigger_top_k' must be int, not float"),
    ]:
        forged = _with_header_field(path, "trigger_top_k", value)
        with pytest.raises(PatchFormatError, match=words.replace("[", r"\[").replace("]", r"\]")):
            load_patch(forged)
    with pytest.raises(PatchFormatError, match="trigger_top_k"):
        save_patch(dataclasses.replace(k3, trigger_top_k=0), tmp_path / "bad.specialneurons")
    assert not (tmp_path / "bad.specialneurons").exists()


def test_training_with_k3_validates_and_covers_as_eval_scores(base_network, low_coverage, tmp_path):
    names = base_network.classes.tag_names()
    dataset = load_dataset(low_coverage, names)
    one = check_dataset(base_network, dataset).coverage
    three = check_dataset(base_network, dataset, top_k=3).coverage
    assert three.top_k == 3 and three.covered > one.covered
    options = TrainingOptions(
        data=str(low_coverage),
        params=HyperParams(batch_size=8, lr=0.02),
        out=str(tmp_path / "out"),
        steps=60,
        trigger_top_k=3,
    )
    plan = plan_training(options, base_network)
    trainer = plan.trainer
    trainer.prepare()
    assert trainer.coverage.covered == three.covered and trainer.coverage.top_k == 3
    trainer.run(threading.Event(), steps=60)
    validation = trainer.validation()
    patch = patch_from_trainer(trainer, plan.info)
    assert patch.trigger_top_k == 3
    samples = [(p, dataset.outputs[k].tag) for p, k in trainer.val_samples]
    report = evaluate(base_network, patch, dataset, samples)
    np.testing.assert_array_equal(report.confusion, validation.report.confusion)
    top1 = evaluate(base_network, dataclasses.replace(patch, trigger_top_k=1), dataset, samples)
    assert report.triggered > top1.triggered


def test_the_option_is_checked_before_training(sample_data):
    for bad in (0, 11, True):
        with pytest.raises(SettingError, match="--trigger-top-k"):
            TrainingOptions(data=str(sample_data), trigger_top_k=bad)


def test_a_masters_lower_outputs_never_wake_a_top_k_slave(
    base_network, felix_patch, sample_data, tmp_path
):
    """k reaches into the base network's ranks only: a slave woken by the master's
    domestic_cat output runs under the master's answer, never under its 2nd or 3rd output."""
    domestic = felix_patch.outputs[0].tag
    slave = dataclasses.replace(
        felix_patch, name="cat detail", triggers=[domestic], trigger_top_k=3
    )
    slave.outputs = [
        dataclasses.replace(o, tag=f"n9000000{i}") for i, o in enumerate(slave.outputs)
    ]
    save_patch(felix_patch, tmp_path / "master.specialneurons")
    save_patch(slave, tmp_path / "slave.specialneurons")
    system = PatchSystem.for_base(base_network)
    system.load_dir(tmp_path)
    photos = [sample_data / "n02121808_115.jpg", sample_data / "n02127808_316.jpg"]  # snow leopard
    cat, leopard = system.classify_pass(base_network.run([decode_image(p) for p in photos]))
    (master,) = cat.patches
    assert master.tag == domestic and [c.name for c in master.children] == ["cat detail"]
    (master,) = leopard.patches
    assert master.tag != domestic and master.children == []
    assert not any(r.name == "cat detail" for _, r in leopard.walk())
