"""`neuralpatch patches` and `neuralpatch classify --patches` on real patches and photos.

The master patch is trained with `neuralpatch train --headless` on sample_data; the slave
("cat orientation", triggered by the master's domestic_cat output) with `train --masters` on
sample_data photos upright or upside down.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from neuralpatch.engine.patch_file import load_patch, save_patch
from neuralpatch.main import main

DOMESTIC, UPRIGHT, UPSIDE_DOWN = "n02121808", "n90000001", "n90000002"
CAT_CLASSES = {"n02123045", "n02123159", "n02123394", "n02123597", "n02124075"}


def orientation_dataset(sample_data: Path, root: Path) -> Path:
    """Sample photos upright or upside down (margins with the FELIX logo cut off)."""
    (root / "map_clsloc.txt").write_text(
        f"{DOMESTIC} 1 domestic_cat\n{UPRIGHT} 2 upright\n{UPSIDE_DOWN} 3 upside_down\n"
    )
    for photo in sorted(sample_data.glob("n*.jpg")):
        with Image.open(photo) as img:
            w, h = img.size
            crop = img.convert("RGB").crop((w // 8, h // 8, w - w // 8, h - h // 8))
        crop = crop.resize((crop.width * 300 // crop.height, 300), Image.Resampling.LANCZOS)
        crop.save(root / f"{UPRIGHT}_{photo.stem}.jpg", quality=95)
        crop.rotate(180).save(root / f"{UPSIDE_DOWN}_{photo.stem}.jpg", quality=95)
    return root


@pytest.fixture(scope="module")
def patch_dir(sample_data, orientation_root, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("patches")
    icon = folder.parent / "icon.png"
    with Image.open(sample_data / "n02121808_101.jpg") as img:
        img.convert("RGB").resize((64, 48)).save(icon)
    assert (
        main(
            [
                "train",
                str(sample_data),
                "--headless",
                "--steps",
                "40",
                "--out",
                str(folder),
                "--name",
                "felix cats",
                "--icon",
                str(icon),
            ]
        )
        == 0
    )
    slave_out = tmp_path_factory.mktemp("slave")
    assert (
        main(
            [
                "train",
                str(orientation_root),
                "--headless",
                "--steps",
                "150",
                "--batch-size",
                "8",
                "--masters",
                str(folder),
                "--out",
                str(slave_out),
                "--name",
                "cat orientation",
            ]
        )
        == 0
    )
    (slave,) = slave_out.glob("*.specialneurons")
    shutil.copy(slave, folder / "cat_orientation.specialneurons")
    return folder


@pytest.fixture(scope="module")
def orientation_root(sample_data, tmp_path_factory) -> Path:
    return orientation_dataset(sample_data, tmp_path_factory.mktemp("orientation"))


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory, photos) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    for name, rgb in photos.items():
        Image.fromarray(rgb).save(folder / f"{name}.png")
    return {name: folder / f"{name}.png" for name in photos}


def run_json(capsys, *argv: str, code: int = 0) -> dict:
    assert main(list(argv)) == code
    return json.loads(capsys.readouterr().out)


def test_a_slave_dataset_needs_its_masters(capsys, patch_dir, orientation_root, tmp_path):
    assert main(["dataset", "check", str(orientation_root)]) == 2
    error = capsys.readouterr().err
    assert f"map_clsloc.txt:1: category {DOMESTIC}" in error and "--masters" in error
    masters = tmp_path / "masters"
    masters.mkdir()
    (master,) = patch_dir.glob("felix_cats_*.specialneurons")
    shutil.copy(master, masters)
    out = run_json(
        capsys, "dataset", "check", str(orientation_root), "--json", "--masters", str(masters)
    )
    assert out["triggers"] == [DOMESTIC] and out["trigger_names"] == {DOMESTIC: "domestic_cat"}
    slave = str(patch_dir / "cat_orientation.specialneurons")
    assert main(["eval", slave, str(orientation_root)]) == 2
    assert "--masters" in capsys.readouterr().err
    report = run_json(
        capsys, "eval", slave, str(orientation_root), "--json", "--masters", str(masters)
    )
    assert report["images"] == len(list(orientation_root.glob("*.jpg")))
    # The slave runs only where the master saw a domestic cat: not on the wild and big cats.
    assert 0 < report["triggered"] < report["images"]
    assert report["accuracy"] > 0.8


def test_patches_json_lists_triggers_outputs_and_icons(capsys, patch_dir, base_network):
    out = run_json(capsys, "patches", str(patch_dir), "--json")
    assert out["folder"] == str(patch_dir) and out["rejected"] == [] and out["cycles"] == []
    assert out["base"]["fingerprint"] == base_network.fingerprint
    slave, master = out["patches"]  # by file name: cat_orientation… before felix_cats…
    assert master["name"] == "felix cats" and master["status"] == "running"
    assert master["icon"] is True and master["reason"] is None
    assert Path(master["file"]).name.startswith("felix_cats_")
    assert {"tag": "n02123045", "name": "tabby", "source": "base", "from": []} in (
        master["triggers"]
    )
    assert len(master["triggers"]) == 13
    assert [o["name"] for o in master["outputs"]] == [
        "domestic_cat",
        "wildcat_small_non_domestic",
        "big_cat",
    ]
    assert slave["name"] == "cat orientation" and slave["icon"] is False
    assert slave["triggers"] == [
        {"tag": DOMESTIC, "name": "domestic_cat", "source": "patch", "from": ["felix cats"]}
    ]
    assert slave["outputs"] == [
        {"tag": UPRIGHT, "name": "upright"},
        {"tag": UPSIDE_DOWN, "name": "upside_down"},
    ]


def test_patches_reports_refused_files_and_exits_non_zero(
    capsys, patch_dir, tmp_path, base_network
):
    for path in patch_dir.glob("*.specialneurons"):
        shutil.copy(path, tmp_path)
    master_file = next(patch_dir.glob("felix_cats_*.specialneurons"))
    (tmp_path / "broken.specialneurons").write_bytes(master_file.read_bytes()[:200])
    master = load_patch(master_file)
    save_patch(
        replace(master, name="old cats", base_fingerprint="0123456789abcdef"),
        tmp_path / "old.specialneurons",
    )
    out = run_json(capsys, "patches", str(tmp_path), "--json", code=2)
    assert len(out["patches"]) == 2
    reasons = {Path(r["file"]).name: r["reason"] for r in out["rejected"]}
    assert "truncated" in reasons["broken.specialneurons"]
    assert "different base network" in reasons["old.specialneurons"]
    assert main(["patches", str(tmp_path)]) == 2
    text = capsys.readouterr().out
    assert "2 patches (2 running, 0 disabled), 2 rejected" in text
    assert "domestic_cat (n02121808, output of felix cats)" in text
    assert "  old.specialneurons: it was trained on a different base network" in text


def test_classify_with_patches_prints_the_tree_as_json(capsys, patch_dir, photo_files):
    out = run_json(
        capsys,
        "classify",
        str(photo_files["chelsea"]),
        str(photo_files["coffee"]),
        "--patches",
        str(patch_dir),
        "--json",
        "--top",
        "3",
    )
    cat, coffee = out["images"]
    assert set(cat) == {"path", "top", "patches", "patches_ms"} and len(cat["top"]) == 3
    assert cat["top"][0]["tag"] in CAT_CLASSES
    (master,) = cat["patches"]
    assert master["name"] == "felix cats" and master["output"]["name"] == "domestic_cat"
    assert master["trigger"]["tag"] == cat["top"][0]["tag"] and master["icon"] is True
    (slave,) = master["children"]
    assert slave["name"] == "cat orientation" and slave["output"]["name"] == "upright"
    assert slave["trigger"] == {"tag": DOMESTIC, "name": "domestic_cat"}
    assert slave["children"] == [] and len(slave["probabilities"]) == 2
    assert coffee["top"][0]["name"] == "espresso" and coffee["patches"] == []
    assert sorted(out["patch_folder"]["running"]) == ["cat orientation", "felix cats"]
    assert out["patch_folder"]["rejected"] == [] and out["errors"] == []


def test_classify_with_patches_prints_an_indented_tree(capsys, patch_dir, photo_files):
    assert (
        main(
            [
                "classify",
                str(photo_files["chelsea"]),
                str(photo_files["coffee"]),
                "--patches",
                str(patch_dir),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    first = lines.index("  patches:")
    parent, child = lines[first + 1], lines[first + 2]
    assert re.match(r"    felix cats: +domestic_cat +\(n02121808\)", parent)
    assert re.match(r"      cat orientation: +upright +\(n90000001\)", child)
    assert "triggered by domestic_cat" in child
    assert parent.index("(n") == child.index("(n")  # the columns line up across the tree
    assert lines[-1] == "  patches: none triggered"


def test_classify_without_patches_keeps_its_json(capsys, photo_files):
    out = run_json(capsys, "classify", str(photo_files["coffee"]), "--json")
    assert set(out) == {"base", "images", "errors"} and set(out["images"][0]) == {"path", "top"}


def test_patches_watch_prints_each_reload_until_ctrl_c(patch_dir, tmp_path):
    """The real command in a subprocess: a listing line, event lines, then Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "neuralpatch", "patches", str(tmp_path), "--watch", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        listing = json.loads(lines.get(timeout=60))
        assert listing["patches"] == [] and listing["folder"] == str(tmp_path)
        source = next(patch_dir.glob("felix_cats_*.specialneurons"))
        save_patch(load_patch(source), tmp_path / "cats.specialneurons")
        event = json.loads(lines.get(timeout=10))
        assert event["event"] == "loaded" and event["name"] == "felix cats"
        assert event["file"] == str(tmp_path / "cats.specialneurons") and "time" in event
        (tmp_path / "cats.specialneurons").unlink()
        assert json.loads(lines.get(timeout=10))["event"] == "removed"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert lines.empty()
