"""The accuracy commands from the command line: coverage in `dataset check`, `dataset
suggest-triggers --write`, abstaining, eval's risk-coverage table and name collisions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from neuralpatch.engine.dataset import MAP_NAME
from neuralpatch.engine.patch_file import load_patch, save_patch
from neuralpatch.main import main

REMOVED = ("n02123045", "n02123159", "n02124075", "n02129165", "n02128385")


def run_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def low_coverage(sample_data, tmp_path) -> Path:
    folder = tmp_path / "cats"
    shutil.copytree(sample_data, folder)
    rows = (folder / MAP_NAME).read_text().splitlines()
    (folder / MAP_NAME).write_text("\n".join(r for r in rows if r.split()[0] not in REMOVED) + "\n")
    return folder


@pytest.fixture(scope="module")
def trained_patch(sample_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("patch")
    assert main(["train", str(sample_data), "--headless", "--steps", "60", "--out", str(out)]) == 0
    return next(out.glob("*.specialneurons"))


def test_dataset_check_reports_coverage(capsys, low_coverage):
    report = run_json(capsys, "dataset", "check", str(low_coverage), "--json")
    coverage = report["trigger_coverage"]
    assert coverage["images"] == 41 and coverage["covered"] < 0.6 * 41
    per_output = {o["name"]: o for o in coverage["outputs"]}
    assert per_output["domestic_cat"]["coverage"] < 0.2
    assert sum(o["covered"] for o in coverage["outputs"]) == coverage["covered"]
    assert any("trigger coverage of domestic_cat" in p for p in report["problems"])
    assert report["unreadable"] == []
    assert main(["dataset", "check", str(low_coverage)]) == 0
    assert "Trigger coverage 48.8%" in capsys.readouterr().out


def test_dataset_check_lists_a_corrupt_photo_by_file(capsys, low_coverage):
    (low_coverage / "n02121808_999.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (low_coverage / "n02121808_998.heic").write_bytes(b"not read")
    report = run_json(capsys, "dataset", "check", str(low_coverage), "--json")
    assert [u["file"] for u in report["unreadable"]] == ["n02121808_999.jpg"]
    assert any(p.startswith("n02121808_999.jpg: ") for p in report["problems"])
    assert any("(.heic: 1)" in p and "n02121808_998.heic" in p for p in report["problems"])


def test_suggest_triggers_write_keeps_the_map_valid(capsys, low_coverage):
    rows = (low_coverage / MAP_NAME).read_text().splitlines()
    out = run_json(
        capsys,
        "dataset",
        "suggest-triggers",
        str(low_coverage),
        "--coverage",
        "0.9",
        "--write",
        "--json",
    )
    assert out["before"]["coverage"] < 0.6
    assert all(o["coverage"] >= 0.9 for o in out["after"]["outputs"])
    assert out["written"] and out["added"]
    new_rows = (low_coverage / MAP_NAME).read_text().splitlines()
    assert new_rows[: len(rows)] == rows
    assert [r.split()[0] for r in new_rows[len(rows) :]] == [a["tag"] for a in out["added"]]
    again = run_json(capsys, "dataset", "check", str(low_coverage), "--json")
    assert again["trigger_coverage"]["coverage"] == out["after"]["coverage"]
    assert not any("trigger coverage" in p for p in again["problems"])


def test_eval_prints_risk_coverage_and_honours_min_confidence(capsys, trained_patch, sample_data):
    plain = run_json(capsys, "eval", str(trained_patch), str(sample_data), "--json")
    rows = plain["risk_coverage"]
    assert rows[0]["min_confidence"] == 0 and rows[0]["answered"] == plain["triggered"]
    assert all(a["coverage"] >= b["coverage"] for a, b in zip(rows, rows[1:], strict=False))
    strict = run_json(
        capsys,
        "eval",
        *(str(trained_patch), str(sample_data), "--json", "--min-confidence", "0.9"),
    )
    point = strict["at_min_confidence"]
    assert point == next(r for r in rows if r["min_confidence"] == 0.9)
    assert point["answered"] + point["abstained"] == plain["triggered"]


def test_an_abstaining_patch_says_none(capsys, trained_patch, tmp_path, sample_data):
    patch = load_patch(trained_patch)
    patch.min_confidence = 1.0  # never sure enough
    folder = tmp_path / "patches"
    folder.mkdir()
    save_patch(patch, folder / trained_patch.name)
    assert load_patch(folder / trained_patch.name).min_confidence == 1.0
    photo = str(sample_data / "n02127808_302.jpg")
    out = run_json(capsys, "classify", photo, "--patches", str(folder), "--json")
    (node,) = out["images"][0]["patches"]
    assert node["abstained"] and not node["identified"]
    assert main(["classify", photo, "--patches", str(folder)]) == 0
    assert "none (abstained" in capsys.readouterr().out
    override = run_json(
        capsys, "classify", photo, "--patches", str(folder), "--json", "--min-confidence", "0"
    )
    (answered,) = override["images"][0]["patches"]  # the override replaces the patch's own
    assert not answered["abstained"] and answered["output"] == node["output"]


def test_patches_warns_when_two_patches_share_a_name(capsys, trained_patch, tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    first = load_patch(trained_patch)
    first.name = "train"
    save_patch(first, folder / "a.specialneurons")
    other = load_patch(trained_patch)
    other.name, other.created = "train", "2030-01-01T00:00:00+00:00"
    other.outputs = other.outputs[:2]
    other.weights, other.bias = other.weights[:2], other.bias[:2]
    save_patch(other, folder / "b.specialneurons")
    listing = run_json(capsys, "patches", str(folder), "--json")
    (warning,) = listing["warnings"]
    assert "'train'" in warning and "a.specialneurons" in warning and "b.specialneurons" in warning
    assert main(["patches", str(folder)]) == 0
    assert "warning: 2 different patches are all named 'train'" in capsys.readouterr().out


def test_default_name_of_a_generic_folder_is_its_parents(capsys, sample_data, tmp_path):
    folder = tmp_path / "felix" / "train"
    shutil.copytree(sample_data, folder)
    out = tmp_path / "out"
    assert main(["train", str(folder), "--headless", "--steps", "3", "--out", str(out)]) == 0
    assert load_patch(next(out.glob("*.specialneurons"))).name == "felix train"


@pytest.mark.parametrize("value", [None, 0.25, 1.5, True])
def test_min_confidence_in_the_file_is_optional_and_checked(trained_patch, tmp_path, value):
    from neuralpatch.engine.container import PATCH_MAGIC, pack
    from neuralpatch.engine.errors import PatchFormatError
    from neuralpatch.engine.patch_file import patch_header

    header, blobs = patch_header(load_patch(trained_patch), trained_patch)
    del header["min_confidence"]
    if value is not None:
        header["min_confidence"] = value
    path = tmp_path / "p.specialneurons"
    path.write_bytes(pack(PATCH_MAGIC, "patch", header, blobs))
    if value in (None, 0.25):
        assert load_patch(path).min_confidence == (value or 0.0)
    else:
        with pytest.raises(PatchFormatError, match="min_confidence"):
            load_patch(path)


def test_suggest_triggers_from_the_training_split_only(capsys, low_coverage):
    out = run_json(
        capsys, "dataset", "suggest-triggers", str(low_coverage), "--train-split", "--json"
    )
    assert out["before"]["images"] == 32  # 41 photos, 9 held out for validation
    assert all(o["coverage"] >= 0.98 for o in out["after"]["outputs"])
    assert out["written"] is None  # no --write: the map is untouched
