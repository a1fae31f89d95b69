"""Teach mode's engine: labels, edits, new categories, live rates, the background output."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuralpatch.engine.container import PATCH_MAGIC, pack, parse_container
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.dataset_edit import add_category, relabel_photo
from neuralpatch.engine.errors import DatasetError, PatchFormatError
from neuralpatch.engine.hyper_params import BOUNDS, HyperParams
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.online_trainer import OnlineTrainer
from neuralpatch.engine.patch_file import (
    PATCH_BLOBS,
    PatchFile,
    PatchOutput,
    load_patch,
    read_patch_fields,
)
from neuralpatch.engine.patch_file import patch_header as header_of
from neuralpatch.engine.patch_model import LinearPatch
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.snap_to_dataset import read_target, save_snap
from neuralpatch.engine.teach_session import TeachSession

DOMESTIC, WILD, BIG = "n02121808", "n02124623", "n02127808"
TABBY, TIGER_CAT = "n02123045", "n02123159"


@pytest.fixture
def dataset(tmp_path, sample_data) -> Path:
    """A copy of the sample set with 4 photos per category (fast, still real)."""
    root = tmp_path / "cats"
    root.mkdir()
    shutil.copy(sample_data / "map_clsloc.txt", root)
    for tag in (DOMESTIC, WILD, BIG):
        for photo in sorted(sample_data.glob(f"{tag}_*.jpg"))[:4]:
            shutil.copy(photo, root)
    return root


@pytest.fixture
def session(base_network, dataset, tmp_path):
    s = TeachSession(base_network, dataset, out_dir=tmp_path / "out")
    s.prepare()
    yield s
    s.close()


def _frame(base_network, rgb):
    base_pass = base_network.run([rgb])
    return base_pass.features[0], base_network.top_k(base_pass.probabilities[0], 1)[0].tag


def test_outputs_are_the_map_order_then_a_background_row(session, dataset, base_network, photos):
    assert [o.tag for o in session.outputs[:3]] == [DOMESTIC, WILD, BIG]
    assert session.outputs[-1].background and session.outputs[-1].name == "background"
    assert session.outputs[-1].tag not in base_network.classes.tag_names()
    assert session.trainer.published.counts == (4, 4, 4, 0)
    before = (dataset / "map_clsloc.txt").read_text()
    load_dataset(dataset, base_network.classes.tag_names())  # `train` still takes it as it is
    features, _ = _frame(base_network, photos["coffee"])
    session.label(photos["coffee"], features, None, 3)  # the row comes with its first photo
    after = (dataset / "map_clsloc.txt").read_text()
    assert after == before + f"{session.outputs[-1].tag} 17 background\n"
    loaded = load_dataset(dataset, base_network.classes.tag_names())
    assert [c.name for c in loaded.outputs][-1] == "background"


def test_a_label_is_saved_and_learnt_before_it_returns(session, base_network, photos):
    features, tag = _frame(base_network, photos["coffee"])
    before = session.answer(features, tag)
    background = len(session.outputs) - 1
    record = session.label(photos["coffee"], features, before, background)
    assert record.path.parent == session.root and record.path.name.startswith(
        session.outputs[-1].tag + "_"
    )
    assert decode_image(record.path).shape == photos["coffee"].shape
    after = session.answer(features, tag)
    assert after.probabilities[background] > before.probabilities[background]
    assert not after.triggered and after.prediction() is None
    assert session.rolling_rate() == (1, 1)  # no trigger on a background frame is right


def test_relabel_and_delete_change_the_dataset_and_the_trainer(session, base_network, photos):
    features, tag = _frame(base_network, photos["chelsea"])
    record = session.label(photos["chelsea"], features, None, 1)  # wrongly: wildcat
    old = record.path
    session.relabel(record, 0)
    assert not old.exists() and record.path.name.startswith(DOMESTIC + "_")
    assert record.path.name[len(DOMESTIC) :] == old.name[len(WILD) :]
    assert session.trainer.published.counts == (5, 4, 4, 0)
    session.delete(record)
    assert not record.path.exists() and record not in session.records
    assert session.trainer.published.counts == (4, 4, 4, 0)
    reloaded = load_dataset(session.root, base_network.classes.tag_names(), empty_ok=True)
    assert sum(len(c.images) for c in reloaded.outputs) == 12


def test_a_new_category_gets_a_free_tag_and_can_be_snapped_into(
    session, base_network, photos, dataset
):
    position = session.add_category("kitchen  table")
    assert position == 3 and session.outputs[3].name == "kitchen_table"
    assert session.outputs[-1].background and len(session.trainer.published.bias) == 5
    new_tag = session.outputs[3].tag
    target = read_target(dataset, base_network.classes.tag_names())
    assert new_tag in [c.tag for c in target.categories]  # empty, yet offered for a snap
    features, tag = _frame(base_network, photos["coffee"])
    session.label(photos["coffee"], features, None, 3)
    assert session.trainer.published.counts == (4, 4, 4, 1, 0)
    with pytest.raises(DatasetError, match="already has a category named"):
        session.add_category("Kitchen_Table")


def test_save_writes_a_plugin_that_marks_its_background(session, tmp_path):
    saved = session.save()
    patch = load_patch(saved.patch)
    assert patch.background == len(patch.outputs) - 1
    assert [o.tag for o in patch.outputs] == [o.tag for o in session.outputs]
    np.testing.assert_allclose(patch.weights, session.trainer.capture()[0].weights)
    assert not session.unsaved
    resumed = TeachSession(
        session.base, session.root, out_dir=tmp_path / "out", resume=saved.snapshot
    )
    np.testing.assert_array_equal(resumed.trainer.patch.weights, patch.weights)


def test_the_plugin_icon_is_the_newest_labelled_photo_not_a_background_one(
    session, base_network, photos
):
    for rgb, output in ((photos["chelsea"], 0), (photos["coffee"], 3)):  # coffee: background
        session.label(rgb, _frame(base_network, rgb)[0], None, output)
    icon = Image.open(io.BytesIO(load_patch(session.save().patch).icon_png))
    assert icon.size == (32, 32)
    pixels = np.asarray(icon.convert("RGB"), np.float32)
    h, w = photos["chelsea"].shape[:2]
    side = min(h, w)
    crop = photos["chelsea"][(h - side) // 2 :, (w - side) // 2 :][:side, :side]
    expected = np.asarray(Image.fromarray(crop).resize((32, 32)), np.float32)
    assert np.abs(pixels - expected).mean() < 12  # the cat (JPEG-saved), not the coffee


def test_rates_scope_and_pause_are_messages_applied_by_the_thread(session):
    trainer = session.trainer
    session.start()
    session.scale("lr", 2.0)
    session.scale("decay", 0.5)
    session.set_new_only(True)
    trainer.post("sync", wait=True)
    published = trainer.published
    assert (published.rates.lr, published.rates.decay) == (0.02, 0.00025)
    assert published.new_only
    session.set_paused(True)
    trainer.post("sync", wait=True)
    step = trainer.published.step
    trainer.post("sync", wait=True)
    assert trainer.published.step == step and trainer.published.paused


def test_rate_keys_stay_inside_the_hyper_parameter_bounds():
    """×2 stops at the valid top (BOUNDS, as the training app's); ÷2 at a floor that ×2 can
    climb back from."""
    trainer = OnlineTrainer(LinearPatch.xavier(2, 8, np.random.default_rng(0)))
    trainer.start()
    try:
        for _ in range(20):
            trainer.post("scale", "lr", 2.0)
            trainer.post("scale", "decay", 0.5)
        trainer.post("sync", wait=True)
        assert trainer.rates.lr == BOUNDS["lr"].high and trainer.rates.decay == 1e-9
        trainer.post("scale", "decay", 2.0, wait=True)
        assert trainer.rates.decay == 2e-9 and isinstance(trainer.rates, HyperParams)
    finally:
        trainer.close()


def test_new_only_trains_on_the_new_labels_alone():
    rng = np.random.default_rng(0)
    trainer = OnlineTrainer(LinearPatch.xavier(2, 8, rng), rates=HyperParams(lr=0.1, batch_size=4))
    trainer.add_many([("old", np.ones(8, np.float32), 0)])
    trainer.post("new_only", True)
    trainer.add("new", -np.ones(8, np.float32), 1, new=True)
    pools = trainer._pool()
    assert [int(y[0]) for _, y in pools] == [1]


def test_background_output_is_validated_and_abstains_without_waking_slaves(
    base_network, photos, tmp_path
):
    dim, fp = base_network.feature_dim, base_network.fingerprint
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 0.01, (2, dim)).astype(np.float32)
    master = PatchFile(
        "master",
        [TABBY, TIGER_CAT],
        [PatchOutput(DOMESTIC, "cat"), PatchOutput("n90000001", "background")],
        weights,
        np.array([-50.0, 50.0], np.float32),  # always answers background
        fp,
        background=1,
    )
    slave = PatchFile(
        "slave",
        ["n90000001"],
        [PatchOutput("n5", "a"), PatchOutput("n6", "b")],
        weights,
        np.zeros(2, np.float32),
        fp,
    )
    system = PatchSystem.for_base(base_network)
    system.add(tmp_path / "m.specialneurons", master)
    system.add(tmp_path / "s.specialneurons", slave)
    base_pass = base_network.run([photos["chelsea"]])
    result = system.classify(base_pass.probabilities[0], base_pass.features[0])
    assert result.top[0].tag == TIGER_CAT  # chelsea: the master runs
    assert result.fired() == ["master"] and result.patches[0].abstained
    master.background = None  # the same answer, no longer "none of these": it wakes the slave
    system.add(tmp_path / "m.specialneurons", master)
    result = system.classify(base_pass.probabilities[0], base_pass.features[0])
    assert result.fired() == ["master", "slave"] and not result.patches[0].abstained
    master.background = 1
    header, blobs = header_of(master, tmp_path / "x")
    assert header["background_output"] == 1
    for bad, words in ((2, "background_output = 2 is not an output"), (True, "must be int")):
        header["background_output"] = bad
        data = pack(PATCH_MAGIC, "patch", header, blobs)
        with pytest.raises(PatchFormatError, match=words):
            read_patch_fields(
                parse_container(
                    data,
                    tmp_path / "x",
                    magic=PATCH_MAGIC,
                    kind="patch",
                    blob_names=PATCH_BLOBS,
                    max_file_bytes=1 << 26,
                )
            )


def test_relabel_never_overwrites(tmp_path, photos):
    a = save_snap(photos["coffee"], tmp_path, "n1")
    taken = tmp_path / ("n2" + a.name[2:])
    taken.write_bytes(b"keep")
    moved = relabel_photo(a, "n2")
    assert moved != taken and taken.read_bytes() == b"keep" and not a.exists()


def test_add_category_keeps_rows_and_refuses_bad_names(dataset, base_network):
    before = (dataset / "map_clsloc.txt").read_bytes()
    loaded = load_dataset(dataset, base_network.classes.tag_names())
    tag, index, name = add_category(loaded, "sofa", base_network.classes.tags)
    after = (dataset / "map_clsloc.txt").read_bytes()
    assert after.startswith(before) and after[len(before) :] == f"{tag} {index} sofa\n".encode()
    with pytest.raises(DatasetError, match="needs a name"):
        add_category(loaded, "   ")
