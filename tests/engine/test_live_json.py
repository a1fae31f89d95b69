"""The camera's fast JSON lines say exactly what `LiveResult.to_dict()` says."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from PIL import Image

from neuralpatch.engine.frame import Frame
from neuralpatch.engine.live_json import LiveJsonEncoder
from neuralpatch.engine.live_loop import LiveResult
from neuralpatch.engine.patch_file import PATCH_SUFFIX, PatchFile, PatchOutput
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.safe_text import json_text


def without_probabilities(nodes: list[dict]) -> list[dict]:
    return [
        {k: v for k, v in n.items() if k != "probabilities"}
        | {"children": without_probabilities(n["children"])}
        for n in nodes
    ]


@pytest.fixture(scope="module")
def results(base_network, photos):
    """Real base passes over real photos, through 200 patches that all fire on the cat (one
    with an icon, one with a hostile name) and a slave under one of them."""
    rng = np.random.default_rng(1)
    cats = list(base_network.classes.tags[281:294])
    icon = io.BytesIO()
    Image.fromarray(np.full((4, 4, 3), 90, np.uint8)).save(icon, format="PNG")
    patches = {}
    for i in range(200):
        outputs = [PatchOutput(f"n{91000000 + 10 * i + j}", f"sort_{i}_{j}%d") for j in range(3)]
        patches[f"/bench/p{i:03d}{PATCH_SUFFIX}"] = PatchFile(
            "evil \x1b]0;title\x07 %s name" if i == 7 else f"patch {i}",
            cats,
            outputs,
            rng.normal(0, 0.05, (3, base_network.feature_dim)).astype(np.float32),
            np.zeros(3, np.float32),
            base_network.fingerprint,
            icon_png=icon.getvalue() if i == 3 else None,
        )
    slave_triggers = [f"n{91000000 + j}" for j in range(3)]  # every output of patch 0
    patches[f"/bench/slave{PATCH_SUFFIX}"] = PatchFile(
        "slave",
        slave_triggers,
        [PatchOutput("n92000000", "left"), PatchOutput("n92000001", "right")],
        rng.normal(0, 0.05, (2, base_network.feature_dim)).astype(np.float32),
        np.zeros(2, np.float32),
        base_network.fingerprint,
    )
    system = PatchSystem.for_base(base_network)
    system.add_all(patches)
    out = base_network.run([photos["chelsea"], photos["coffee"]])
    made = []
    for i, name in enumerate(("chelsea", "coffee")):
        frame = Frame(photos[name], i, time.perf_counter(), f"{name}\n.jpg")
        result = system.classify(out.probabilities[i], out.features[i])
        made.append(LiveResult(i, frame, result, 9.5, 0.7, 11.25, float("nan"), 3))
    return made


def test_the_fast_line_parses_to_to_dict(results):
    cat, coffee = results
    assert len(list(cat.result.walk())) == 201 and coffee.result.patches == []
    full, lean = LiveJsonEncoder(probabilities=True), LiveJsonEncoder()
    for live in results * 2:  # the second time from the cached fragments
        want = json.loads(json_text(live.to_dict()))
        assert want["fps"] is None  # NaN became null, as json_text writes it
        assert json.loads(full.encode(live)) == want
        lean_record = json.loads(lean.encode(live))
        assert lean_record == want | {"patches": without_probabilities(want["patches"])}
    line = full.encode(cat)
    assert "\n" not in line and "\x1b" not in line and line.isascii()
