"""The patch system on real patches trained here on real photos, through the real base pass.

Master: the sample_data cat patch (triggered by the base network's 13 cat classes, answering
domestic / small wild / big cat). Slave: "cat orientation", triggered by the master's
domestic_cat output (n02121808) and trained on sample_data photos upright or turned upside
down (n90000001 upright / n90000002 upside_down).
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuralpatch.engine.class_map import tag_key
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.patch_file import PatchFile, PatchOutput, save_patch
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, patch_from_trainer

DOMESTIC, UPRIGHT, UPSIDE_DOWN = "n02121808", "n90000001", "n90000002"
CAT_CLASSES = {"n02123045", "n02123159", "n02123394", "n02123597", "n02124075"}


def train(
    base,
    root: Path,
    name: str,
    steps: int,
    known_tags: dict[str, str] | None = None,
    seed: int = 0,
    icon: bytes | None = None,
) -> PatchFile:
    tags = {**base.classes.tag_names(), **(known_tags or {})}
    trainer = Trainer(base, load_dataset(root, tags), HyperParams(batch_size=8, lr=0.01), seed=seed)
    trainer.prepare()
    trainer.run(threading.Event(), steps=steps)
    return patch_from_trainer(trainer, PatchInfo(name, icon_png=icon))


def orientation_dataset(sample_data: Path, root: Path) -> Path:
    """Every sample photo (margins with the FELIX logo cut off), upright or upside down."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "map_clsloc.txt").write_text(
        f"{DOMESTIC} 1 domestic_cat\n{UPRIGHT} 2 upright\n{UPSIDE_DOWN} 3 upside_down\n"
    )
    for photo in sorted(sample_data.glob("n*.jpg")):
        with Image.open(photo) as img:
            w, h = img.size
            crop = img.convert("RGB").crop((w // 8, h // 8, w - w // 8, h - h // 8))
        crop = crop.resize((crop.width * 300 // crop.height, 300), Image.Resampling.LANCZOS)
        views = {
            f"{UPRIGHT}_{photo.stem}": crop,
            f"{UPRIGHT}_{photo.stem}m": crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            f"{UPSIDE_DOWN}_{photo.stem}": crop.rotate(180),
            f"{UPSIDE_DOWN}_{photo.stem}m": crop.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
        }
        for name, view in views.items():
            view.save(root / f"{name}.jpg", quality=95)
    return root


def icon_png(sample_data: Path) -> bytes:
    with Image.open(sample_data / "n02121808_101.jpg") as img:
        out = io.BytesIO()
        img.convert("RGB").resize((64, 48)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def master(base_network, sample_data) -> PatchFile:
    return train(base_network, sample_data, "felix cats", 40, icon=icon_png(sample_data))


@pytest.fixture(scope="module")
def slave(base_network, sample_data, tmp_path_factory) -> PatchFile:
    root = orientation_dataset(sample_data, tmp_path_factory.mktemp("orientation"))
    return train(base_network, root, "cat orientation", 150, {DOMESTIC: "domestic_cat"})


@pytest.fixture(scope="module")
def frames(base_network, photos, sample_data) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Base pass results (probabilities, features) of real photos."""
    chelsea = photos["chelsea"]
    with Image.open(sample_data / "n02124623_206.jpg") as img:
        wildcat = np.asarray(img.convert("RGB"))
    images = {
        "chelsea": chelsea,
        "coffee": photos["coffee"],
        "wildcat": wildcat,
        "chelsea_upside_down": np.ascontiguousarray(chelsea[::-1, ::-1]),
    }
    out = base_network.run(list(images.values()))
    return {name: (out.probabilities[i], out.features[i]) for i, name in enumerate(images)}


@pytest.fixture
def cascade(base_network, master, slave, tmp_path) -> PatchSystem:
    system = PatchSystem.for_base(base_network)
    save_patch(master, tmp_path / "felix_cats.specialneurons")
    save_patch(slave, tmp_path / "cat_orientation.specialneurons")
    events = system.load_dir(tmp_path)
    assert [(e.kind, e.name) for e in events] == [
        ("loaded", "cat orientation"),
        ("loaded", "felix cats"),
    ]
    return system


def tree(result) -> list[tuple[int, str, str]]:
    return [(depth, r.name, r.output_name) for depth, r in result.walk()]


def test_the_tabby_fires_the_master_then_the_slave(cascade, frames):
    result = cascade.classify(*frames["chelsea"])
    assert result.identified.tag in CAT_CLASSES
    assert tree(result) == [(0, "felix cats", "domestic_cat"), (1, "cat orientation", "upright")]
    (master,) = result.patches
    (slave,) = master.children
    assert master.trigger == result.identified.tag and slave.trigger == DOMESTIC
    assert slave.trigger_name == "domestic_cat" and slave.probability > 0.9
    assert master.probabilities.shape == (3,) and np.isclose(master.probabilities.sum(), 1)
    assert master.icon_rgba.shape == (48, 64, 4) and master.icon_png.startswith(b"\x89PNG")
    assert slave.icon_rgba is None and result.elapsed_ms >= master.elapsed_ms > 0


def test_the_espresso_fires_nothing(cascade, frames):
    result = cascade.classify(*frames["coffee"])
    assert result.identified.name == "espresso" and result.top[0].name == "espresso"
    assert result.patches == [] and result.fired() == []


def test_the_slave_reads_the_features_too(cascade, frames):
    result = cascade.classify(*frames["chelsea_upside_down"])
    assert tree(result) == [
        (0, "felix cats", "domestic_cat"),
        (1, "cat orientation", "upside_down"),
    ]


def test_the_master_answer_decides_whether_the_slave_wakes(cascade, frames):
    result = cascade.classify(*frames["wildcat"])
    assert tree(result) == [(0, "felix cats", "wildcat_small_non_domestic")]


def test_result_to_dict_is_json(cascade, frames):
    data = json.loads(json.dumps(cascade.classify(*frames["chelsea"], top_k=3).to_dict()))
    assert len(data["top"]) == 3 and data["identified"] == data["top"][0]
    node = data["patches"][0]
    assert node["name"] == "felix cats" and node["icon"] is True and node["identified"]
    assert node["output"]["tag"] == DOMESTIC and node["trigger"]["tag"] in CAT_CLASSES
    assert [p["name"] for p in node["probabilities"]] == [
        "domestic_cat",
        "wildcat_small_non_domestic",
        "big_cat",
    ]
    child = node["children"][0]
    assert child["output"]["name"] == "upright" and child["children"] == []
    assert child["trigger"] == {"tag": DOMESTIC, "name": "domestic_cat"}


def test_min_probability_gates_every_level(cascade, frames):
    probs, features = frames["chelsea"]
    top1 = float(probs.max())
    cascade.set_min_probability(top1 + 0.01)
    assert cascade.classify(probs, features).identified is None
    cascade.set_min_probability(top1 - 0.01)
    assert len(tree(cascade.classify(probs, features))) == 2
    cascade.set_min_probability(1.0)  # no patch answer reaches 1.0 exactly: nothing fires
    assert cascade.classify(probs, features).patches == []


def test_a_chain_of_three_levels(cascade, slave, frames, tmp_path):
    """A third patch triggered by the slave's `upright` (the slave's own weights, renamed)."""
    third = replace(
        slave,
        name="upright again",
        triggers=[UPRIGHT],
        outputs=[
            PatchOutput("n90000003", "really_upright"),
            PatchOutput("n90000004", "not_really"),
        ],
    )
    cascade.add(tmp_path / "third.specialneurons", third)
    assert tree(cascade.classify(*frames["chelsea"])) == [
        (0, "felix cats", "domestic_cat"),
        (1, "cat orientation", "upright"),
        (2, "upright again", "really_upright"),
    ]


def test_each_patch_runs_once_under_its_first_master(cascade, master, frames, tmp_path):
    cascade.add(tmp_path / "zz_cats_again.specialneurons", replace(master, name="cats again"))
    assert tree(cascade.classify(*frames["chelsea"])) == [
        (0, "felix cats", "domestic_cat"),
        (1, "cat orientation", "upright"),
        (0, "cats again", "domestic_cat"),
    ]


def test_a_trigger_cycle_is_reported_and_the_rest_still_runs(
    base_network, master, slave, frames, tmp_path
):
    system = PatchSystem.for_base(base_network)
    looping = replace(master, triggers=[*master.triggers, UPRIGHT])  # wakes on the slave's output
    save_patch(looping, tmp_path / "a.specialneurons")
    save_patch(slave, tmp_path / "b.specialneurons")
    save_patch(replace(master, name="cats again"), tmp_path / "c.specialneurons")
    events = system.load_dir(tmp_path)
    disabled = [e for e in events if e.kind == "disabled"]
    assert [e.name for e in disabled] == ["felix cats", "cat orientation"]
    for e in disabled:
        assert "trigger cycle felix cats → cat orientation → felix cats" in e.reason
    assert system.index.cycles == (("felix cats", "cat orientation", "felix cats"),)
    assert tree(system.classify(*frames["chelsea"])) == [(0, "cats again", "domestic_cat")]
    events = system.remove(tmp_path / "a.specialneurons")
    assert [(e.kind, e.name) for e in events] == [
        ("removed", "felix cats"),
        ("enabled", "cat orientation"),
    ]
    assert system.index.cycles == ()
    assert tree(system.classify(*frames["chelsea"])) == [
        (0, "cats again", "domestic_cat"),
        (1, "cat orientation", "upright"),
    ]


def test_a_patch_answering_its_own_trigger_is_no_cycle(base_network, master, frames):
    system = PatchSystem.for_base(base_network)
    system.add("own.specialneurons", replace(master, triggers=[*master.triggers, DOMESTIC]))
    assert system.index.cycles == () and system.patches[0].disabled is None
    assert tree(system.classify(*frames["chelsea"])) == [(0, "felix cats", "domestic_cat")]


def test_another_base_network_is_refused_saying_so(base_network, master, tmp_path):
    system = PatchSystem.for_base(base_network)
    save_patch(
        replace(master, base_fingerprint="0123456789abcdef"), tmp_path / "old.specialneurons"
    )
    save_patch(
        replace(master, weights=master.weights[:, :640].copy()), tmp_path / "small.specialneurons"
    )
    events = {e.path.name: e for e in system.load_dir(tmp_path)}
    assert {e.kind for e in events.values()} == {"rejected"} and system.patches == ()
    reason = events["old.specialneurons"].reason
    assert "different base network" in reason and "0123456789abcdef" in reason
    assert base_network.fingerprint in reason
    assert "reads 640 features but the base network gives 1280" in (
        events["small.specialneurons"].reason
    )
    assert set(system.rejected) == {
        tmp_path / "old.specialneurons",
        tmp_path / "small.specialneurons",
    }


def test_a_bad_file_never_replaces_the_running_version(cascade, master, frames, tmp_path):
    path = tmp_path / "felix_cats.specialneurons"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    (event,) = cascade.refresh([path])
    assert event.kind == "rejected" and "previous version keeps running" in event.reason
    assert cascade.rejected[path].startswith("truncated")
    assert tree(cascade.classify(*frames["chelsea"]))[0] == (0, "felix cats", "domestic_cat")
    assert cascade.refresh([path]) == []  # the same bad bytes are not reported twice
    path.write_bytes(good)
    assert [e.kind for e in cascade.refresh([path])] == ["replaced"]
    assert cascade.rejected == {}


def test_a_newer_file_with_the_same_name_supersedes(base_network, master, tmp_path):
    system = PatchSystem.for_base(base_network)
    for name, created in (
        ("old", "2024-01-01T00:00:00+00:00"),
        ("new", "2025-01-01T00:00:00+00:00"),
    ):
        save_patch(replace(master, created=created), tmp_path / f"{name}.specialneurons")
    system.load_dir(tmp_path)
    old, new = sorted(system.patches, key=lambda p: p.path.name, reverse=True)
    assert new.disabled is None and old.disabled.startswith("superseded by new.specialneurons")
    assert system.index.enabled == (new,)


def test_a_thousand_other_patches_leave_the_tree_alone(cascade, frames, base_network):
    """The lookup is by tag: unrelated patches are never looked at, whatever their number."""
    rng = np.random.default_rng(0)
    dogs = list(base_network.classes.tags[151:269])
    cascade.add_all(
        {
            f"dog{i}.specialneurons": PatchFile(
                f"dogs {i}",
                dogs[i % 100 : i % 100 + 5],
                [PatchOutput(f"n8{i:07d}", "a"), PatchOutput(f"n9{i:07d}", "b")],
                rng.normal(0, 0.02, (2, 1280)).astype(np.float32),
                np.zeros(2, np.float32),
                base_network.fingerprint,
            )
            for i in range(1000)
        }
    )
    assert len(cascade.index.enabled) == 1002
    assert tree(cascade.classify(*frames["chelsea"])) == [
        (0, "felix cats", "domestic_cat"),
        (1, "cat orientation", "upright"),
    ]
    assert len(cascade.index.by_tag[tag_key(base_network.classes.tags[151])]) == 1


def test_classifying_while_patches_are_swapped(cascade, slave, frames, tmp_path):
    """A camera thread classifies while another thread swaps the slave in and out."""
    path = tmp_path / "cat_orientation.specialneurons"
    stop, seen, errors = threading.Event(), set(), []

    def camera() -> None:
        while not stop.is_set():
            try:
                seen.add(tuple(tree(cascade.classify(*frames["chelsea"]))))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

    worker = threading.Thread(target=camera)
    worker.start()
    for _ in range(30):
        cascade.remove(path)
        cascade.add(path, slave)
    stop.set()
    worker.join()
    assert errors == []
    assert seen <= {
        ((0, "felix cats", "domestic_cat"),),
        ((0, "felix cats", "domestic_cat"), (1, "cat orientation", "upright")),
    }
