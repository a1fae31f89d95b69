"""The patch cascade on real patches through the real base pass: which patch fires under which,
and what each level answers (the patches: patch_system_helpers)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
from patch_system_helpers import CAT_CLASSES, DOMESTIC, UPRIGHT, tree

from neuralpatch.engine.class_map import tag_key
from neuralpatch.engine.patch_file import PatchFile, PatchOutput


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
