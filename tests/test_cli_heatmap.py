"""`neuralpatch classify --heatmap` and `neuralpatch eval --heatmaps` on real photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuralpatch.engine.patch_file import save_patch
from neuralpatch.main import main


@pytest.fixture(scope="module")
def felix_dir(felix_patch, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("felix-patches")
    save_patch(felix_patch, folder / "felix-cats.specialneurons")
    return folder


@pytest.fixture(scope="module")
def portrait_cat(tmp_path_factory, photos) -> Path:
    """chelsea in the top part of a tall plain canvas."""
    canvas = np.full((640, 420, 3), 230, np.uint8)
    canvas[120:270, 60:286] = photos["chelsea"][::2, ::2]
    path = tmp_path_factory.mktemp("portrait") / "tall cat.png"
    Image.fromarray(canvas).save(path)
    return path


def walk(nodes):
    for node in nodes:
        yield node
        yield from walk(node["children"])


def test_classify_heatmap_json_for_base_and_patches(
    capsys, sample_data, felix_dir, portrait_cat, tmp_path
):
    photo = sample_data / "n02121808_101.jpg"
    argv = ["classify", str(photo), str(portrait_cat), "--patches", str(felix_dir)]
    assert main([*argv, "--heatmap", str(tmp_path / "maps"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    patches_seen = 0
    for item, (h, w) in zip(out["images"], [(600, 800), (640, 420)], strict=True):
        heat = item["heatmap"]  # the base network's top class
        assert heat["output"]["index"] == item["top"][0]["index"]
        x0, y0, x1, y1 = heat["box"]
        side = round(min(h, w) * 0.875)
        assert (x1 - x0, y1 - y0) == (side, side)
        assert (x0, y0) == ((w - side) // 2, (h - side) // 2)
        for target in [item, *walk(item["patches"])]:
            heat = target["heatmap"]
            assert len(heat["grid"]) == 7 and all(len(row) == 7 for row in heat["grid"])
            assert np.mean(heat["grid"]) == pytest.approx(heat["logit"] - heat["bias"], abs=1e-4)
            assert x0 <= heat["peak"][0] <= x1 and y0 <= heat["peak"][1] <= y1
            with Image.open(heat["png"]) as png:
                assert png.format == "PNG"
            patches_seen += target is not item
    assert patches_seen >= 1
    tall = out["images"][1]
    assert 60 <= tall["heatmap"]["peak"][0] < 286 and 120 <= tall["heatmap"]["peak"][1] < 270
    names = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert len(names) == 2 + patches_seen and "tall_cat.base." in " ".join(names)


def test_classify_occlusion_adds_a_second_map(capsys, photos, tmp_path):
    path = tmp_path / "coffee.png"
    Image.fromarray(photos["coffee"]).save(path)
    folder = tmp_path / "maps"
    assert main(["classify", str(path), "--heatmap", str(folder), "--occlusion", "--json"]) == 0
    captured = capsys.readouterr()
    item = json.loads(captured.out)["images"][0]
    assert item["heatmap"]["method"] == "cam" and item["occlusion"]["method"] == "occlusion"
    assert item["occlusion"]["box"] == item["heatmap"]["box"]
    assert Path(item["occlusion"]["png"]).is_file() and "occlusion" in captured.err  # progress


def test_classify_heatmap_text_names_the_pngs(capsys, photos, tmp_path):
    path = tmp_path / "cat.png"
    Image.fromarray(photos["chelsea"]).save(path)
    assert main(["classify", str(path), "--heatmap", str(tmp_path / "maps")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.strip().startswith("heatmap: base →") and ".png" in line for line in lines)


def test_occlusion_without_heatmap_is_a_clear_error(capsys, photos, tmp_path):
    path = tmp_path / "cat.png"
    Image.fromarray(photos["chelsea"]).save(path)
    assert main(["classify", str(path), "--occlusion"]) != 0
    assert "--occlusion needs --heatmap" in capsys.readouterr().err


def test_eval_heatmaps_writes_a_gallery_of_the_misclassified(
    capsys, sample_data, felix_dir, tmp_path
):
    patch = next(felix_dir.glob("*.specialneurons"))
    folder = tmp_path / "gallery"
    argv = ["eval", str(patch), str(sample_data), "--heatmaps", str(folder), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    wrong = report["images"] - round(report["end_to_end_accuracy"] * report["images"])
    assert wrong >= 1  # a 60-step patch on 41 photos: some are wrong or do not trigger
    with Image.open(report["gallery"]) as sheet:
        assert sheet.format == "PNG"
        columns = min(4, wrong)
        assert sheet.width >= columns * (220 + 8) + 8
        rows = -(-wrong // columns)
        assert sheet.height == 28 + rows * (220 + 34 + 8) + 8
    assert [p.name for p in folder.iterdir()] == ["felix_cats-misclassified.png"]
