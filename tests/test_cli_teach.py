"""`neuralpatch teach --headless --json`: labelling a real photo stream from stdin, live."""

from __future__ import annotations

import io
import json
import random
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
from PIL import Image

from neuralpatch.engine.augment import rand_tilt_shift
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.patch_file import load_patch
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.main import main

BACKGROUND_KINDS = ("coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


@pytest.fixture(scope="module")
def teach_run(tmp_path_factory, sample_data):
    """Two cycles over 41 shuffled cat photos and 4 non-cat photos, each labelled from its
    file name; 2 augmented views of the non-cat photos are never labelled (held out)."""
    tmp = tmp_path_factory.mktemp("teach")
    dataset, source, out = tmp / "cats", tmp / "stream", tmp / "out"
    dataset.mkdir()
    source.mkdir()
    shutil.copy(sample_data / "map_clsloc.txt", dataset)  # the categories, no photo yet
    photos = sorted(sample_data.glob("n*.jpg"))
    random.Random(1).shuffle(photos)
    for i, photo in enumerate(photos):
        shutil.copy(photo, source / f"{i:03d}_{photo.name.split('_')[0]}.jpg")
    rng = np.random.default_rng(0)
    for i, kind in enumerate(BACKGROUND_KINDS):
        rgb = getattr(skimage.data, kind)()
        Image.fromarray(rgb).save(source / f"1{i:02d}_b_{kind}.jpg")
        if i < 2:
            Image.fromarray(rand_tilt_shift(rgb, rng)).save(source / f"2{i:02d}_held_{kind}.jpg")
    names = sorted(p.name for p in source.iterdir())
    lines = []
    for _ in range(2):
        for name in names:
            kind = name.split("_")[1].removesuffix(".jpg")
            lines.append("" if kind == "held" else kind)
    return dataset, source, out, names, "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def records(teach_run, base_network) -> list[dict]:
    dataset, source, out, _, stdin = teach_run
    saved_stdin, saved_stdout = sys.stdin, sys.stdout
    sys.stdin, sys.stdout = io.StringIO(stdin), io.StringIO()
    try:
        code = main(
            ["teach", str(dataset), "--source", str(source), "--headless", "--json"]
            + ["--out", str(out)]
        )
        printed = sys.stdout.getvalue()
    finally:
        sys.stdin, sys.stdout = saved_stdin, saved_stdout
    assert code == 0
    return [json.loads(line) for line in printed.splitlines()]


def test_every_frame_prints_one_record_and_eof_ends(records, teach_run):
    names = teach_run[3]
    # one record per line read, plus the frame whose read hit the end of input
    assert len(records) == 2 * len(names) + 1
    assert [r["frame"] for r in records] == list(range(len(records)))
    assert [r["label"] for r in records[: len(names)]] == names
    first = records[0]
    assert {"frame", "source_frame", "label", "prediction", "timings", "training"} <= set(first)
    assert first["probabilities"][-1]["name"] == "background"


def test_labels_are_saved_with_their_tags(records, teach_run, base_network):
    dataset, _, _, names, _ = teach_run
    loaded = load_dataset(dataset, base_network.classes.tag_names())
    counts = {c.tag: len(c.images) for c in loaded.categories if c.images}
    expected: dict[str, int] = {}
    for name in names:
        kind = name.split("_")[1].removesuffix(".jpg")
        if kind.startswith("n"):
            expected[kind] = expected.get(kind, 0) + 2  # labelled once in each cycle
    background = next(c for c in loaded.categories if c.name == "background")
    expected[background.tag] = 2 * len(BACKGROUND_KINDS)
    assert counts == expected
    assert all(p.name.endswith("Z.jpg") for c in loaded.categories for p in c.images)


def _right(record: dict) -> bool:
    tag = record["label"].split("_")[1].removesuffix(".jpg")
    said = record["prediction"]
    return said is not None and said["tag"] == tag


def test_the_patch_learns_from_the_labels(records, teach_run):
    n = len(teach_run[3])
    cats = [r for r in records if r["label"].split("_")[1].startswith("n")]
    early = sum(map(_right, cats[:15])) / 15
    late = sum(map(_right, cats[-41:])) / 41  # the second cycle
    assert late >= 0.75
    assert late > early + 0.3
    assert records[-1]["training"]["step"] > records[n]["training"]["step"] > 0


def test_background_abstains_on_held_out_photos_of_another_kind(records, teach_run):
    n = len(teach_run[3])
    second = records[n : 2 * n]
    held = [r for r in second if "_held_" in r["label"]]
    assert len(held) == 2 and all(r["abstained"] and r["prediction"] is None for r in held)
    cats = [r for r in second if r["label"].split("_")[1].startswith("n") and r["triggered"]]
    assert sum(r["abstained"] for r in cats) <= 2  # cats are not "none of these"


def test_saved_plugin_reloads_and_fires(records, teach_run, base_network, photos):
    out = teach_run[2]
    [patch_file] = out.glob("*.specialneurons")
    assert len(list(out.glob("*.npsnapshot"))) == 1
    patch = load_patch(patch_file)
    assert patch.background == len(patch.outputs) - 1
    assert patch.outputs[patch.background].name == "background"
    system = PatchSystem.for_base(base_network)
    system.load_dir(out)
    base_pass = base_network.run([photos["chelsea"], photos["coffee"]])
    cat, coffee = system.classify_pass(base_pass)
    assert cat.fired() == [patch.name]
    assert not cat.patches[0].abstained and cat.patches[0].to_dict()["abstained"] is False
    assert cat.patches[0].output_name == "domestic_cat"  # chelsea is a pet tabby
    assert coffee.fired() == []  # espresso is no trigger of a cat patch


def test_a_hang_up_saves_the_session(teach_run, tmp_path):
    """SIGHUP (a dropped SSH session) while the loop waits for a label: saved, exit 0."""
    dataset, source, _, _, _ = teach_run
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "neuralpatch", "teach", str(dataset), "--source", str(source)]
        + ["--headless", "--json", "--out", str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(process.stdout.readline())  # waiting for its label now
        assert first["frame"] == 0
        process.send_signal(signal.SIGHUP)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "SIGHUP: saving" in err
    assert len(list(out.glob("*.specialneurons"))) == len(list(out.glob("*.npsnapshot"))) == 1


def test_a_missing_video_is_one_error_before_any_work(capsys, sample_data, tmp_path):
    gone = tmp_path / "gone.avi"
    code = main(["teach", str(sample_data), "--source", str(gone), "--headless", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines == [f"neuralpatch: error: {gone}: not found (no such video file or photo folder)"]
