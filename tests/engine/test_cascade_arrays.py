"""The cascade's array path answers what a plain per-patch computation answers: each patch's
own soft-max, its thresholds, which patches its answer wakes, the base's top-k triggers, and
the same JSON line and overrides whether or not its results were made as objects."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from neuralpatch.engine.class_map import tag_key
from neuralpatch.engine.frame import Frame
from neuralpatch.engine.live_json import LiveJsonEncoder
from neuralpatch.engine.live_loop import LiveResult
from neuralpatch.engine.patch_file import PatchFile, PatchOutput
from neuralpatch.engine.patch_system import PatchSystem


@pytest.fixture(scope="module")
def system(base_network, master, slave) -> PatchSystem:
    """The real master and slave, 200 masters on the cat classes (some unsure, some with a
    background output), 60 slaves under 20 of them, 40 on the base's third class only."""
    rng = np.random.default_rng(7)
    cats = list(base_network.classes.tags[281:294])
    d, fp = base_network.feature_dim, base_network.fingerprint

    def patch(i: int, triggers: list[str], k: int, **extra) -> PatchFile:
        outputs = [PatchOutput(f"n{93000000 + 10 * i + j}", f"o{i}_{j}") for j in range(k)]
        weights = rng.normal(0, 0.08, (k, d)).astype(np.float32)
        bias = rng.normal(0, 0.5, k).astype(np.float32)
        return PatchFile(f"p{i}", triggers, outputs, weights, bias, fp, **extra)

    patches = {"/t/master.specialneurons": master, "/t/slave.specialneurons": slave}
    for i in range(200):
        extra = {"min_confidence": 0.5} if i % 7 == 0 else {}
        if i % 11 == 0:
            extra["background"] = 1
        patches[f"/t/m{i:03d}.specialneurons"] = patch(i, cats, 2 + i % 3, **extra)
    for i in range(200, 260):  # woken by any answer of master i % 20
        masters = [f"n{93000000 + 10 * (i % 20) + j}" for j in range(4)]
        patches[f"/t/s{i:03d}.specialneurons"] = patch(i, masters, 3)
    for i in range(260, 300):
        patches[f"/t/k{i:03d}.specialneurons"] = patch(i, ["n02123045"], 2, trigger_top_k=3)
    built = PatchSystem.for_base(base_network, min_probability=0.05)
    built.add_all(patches)
    assert len(built.index.enabled) == 302
    return built


def reference(system: PatchSystem, probs: np.ndarray, features: np.ndarray) -> dict:
    """name -> (depth, trigger, index, probability, identified, abstained), patch by patch."""
    order = np.argsort(probs)[::-1]
    minp = system.min_probability
    if probs[order[0]] < minp:
        return {}
    ranked = [order[0]] + [i for i in order[1:3] if probs[i] >= minp]
    queue = [(system.classes.tags[c], rank, 0) for rank, c in enumerate(ranked)]
    answers: dict = {}
    while queue:
        tag, rank, depth = queue.pop(0)
        for loaded in system.index.enabled:
            p = loaded.patch
            woken = tag_key(tag) in map(tag_key, p.triggers) and (
                rank == 0 or p.trigger_top_k > rank
            )
            if not woken or loaded.name in answers:
                continue
            logits = p.weights.astype(np.float64) @ features + p.bias
            soft = np.exp(logits - logits.max())
            soft /= soft.sum()
            k = int(np.argmax(soft))
            abstained = soft[k] < p.min_confidence or p.background == k
            identified = soft[k] >= minp and not abstained
            answers[loaded.name] = (depth, tag, k, soft[k], identified, abstained)
            if identified:
                queue.append((p.outputs[k].tag, 0, depth + 1))
    return answers


def as_found(result) -> dict:
    return {
        r.name: (depth, r.trigger, r.index, r.probability, r.identified, r.abstained)
        for depth, r in result.walk()
    }


@pytest.mark.parametrize("photo", ["chelsea", "chelsea_upside_down", "wildcat", "coffee"])
def test_every_answer_is_the_patch_s_own_soft_max(system, frames, photo):
    probs, features = frames[photo]
    result = system.classify(probs, features)
    count = result.count()  # from the arrays, before any result object exists
    want, got = reference(system, probs, features), as_found(result)
    assert count == len(got) == len(want)
    assert got.keys() == want.keys()
    for name, (depth, trigger, k, p, identified, abstained) in want.items():
        assert got[name][:3] == (depth, trigger, k), name
        assert got[name][3] == pytest.approx(p, rel=1e-4, abs=1e-6), name
        assert got[name][4:] == (identified, abstained), name
    if photo != "coffee":
        depths = {v[0] for v in got.values()}
        assert {0, 1} <= depths and any(v[5] for v in got.values())  # slaves, abstentions
    if photo.startswith("chelsea"):  # a tabby among its top 3: the top-3 patches woke
        assert any(v[1] == "n02123045" for v in got.values())


def test_overrides_and_json_read_the_same_with_or_without_objects(system, frames):
    probs, features = frames["chelsea"]
    encoders = LiveJsonEncoder(probabilities=True), LiveJsonEncoder()
    lines, trees = [], []
    for make_first in (False, True):
        result = system.classify(probs, features)
        if make_first:
            assert result.patches  # results made: overrides and JSON go through them
        result.abstain_below(0.6)
        live = LiveResult(
            0, Frame(frames["chelsea"][1], 0, time.perf_counter(), "c"), result, 1, 1, 1, 1, 0
        )
        lines.append([json.loads(e.encode(live)) for e in encoders])
        trees.append([(d, r.name, r.identified, r.abstained) for d, r in result.walk()])
        assert result.count() == len(trees[-1])
    for line in [record for both in lines for record in both]:
        for node in line["patches"]:
            node["elapsed_ms"] = 0.0  # timed separately in each run
            for child in node["children"]:
                child["elapsed_ms"] = 0.0
    assert lines[0] == lines[1] and trees[0] == trees[1]
    assert any(a for _, _, _, a in trees[0]) and any(d for d, *_ in trees[0])
