"""The `neuralpatch` command as scripts use it: real photos, real OpenCL base pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from neuralpatch.engine.snapshot import load_snapshot, save_snapshot
from neuralpatch.main import main


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory, photos) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    paths = {}
    for name, rgb in photos.items():
        paths[name] = folder / f"{name}.png"
        Image.fromarray(rgb).save(paths[name])
    return paths


def run_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_classify_finds_the_cat_and_the_espresso(capsys, photo_files, base_network):
    out = run_json(
        capsys,
        "classify",
        str(photo_files["chelsea"]),
        str(photo_files["coffee"]),
        "--json",
        "--top",
        "3",
    )
    cat, coffee = out["images"]
    assert cat["top"][0]["index"] in (281, 282, 285)
    assert cat["top"][0]["name"] in ("tabby", "tiger_cat", "Egyptian_cat")
    assert coffee["top"][0]["name"] == "espresso" and coffee["top"][0]["probability"] > 0.8
    assert len(cat["top"]) == 3 and out["errors"] == []
    assert out["base"]["fingerprint"] == base_network.fingerprint


def test_classify_text_output(capsys, photo_files):
    assert main(["classify", str(photo_files["coffee"]), "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("coffee.png") and "espresso" in lines[1] and len(lines) == 3


def test_an_undecodable_image_is_one_clear_error(capsys, photo_files, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"GIF89a but not really")
    code = main(["classify", str(bad), str(photo_files["coffee"]), "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert "broken.jpg" in captured.err and "Traceback" not in captured.err
    assert json.loads(captured.out)["images"][0]["top"][0]["name"] == "espresso"


def test_base_info_reports_network_and_device(capsys):
    info = run_json(capsys, "base", "info", "--json")
    assert info["layers"] == 1 + 2 + 15 * 3 + 4
    assert info["feature_dim"] == 1280 and info["classes"] == 1000
    assert 0.76e9 < info["flops_per_image"] < 0.78e9
    assert info["device"]["device"]


def test_missing_base_network_file_is_one_clear_error(capsys, photo_files, tmp_path):
    code = main(["classify", str(photo_files["coffee"]), "--base", str(tmp_path / "no.txt")])
    err = capsys.readouterr().err
    assert code == 2 and "no.txt" in err and err.count("\n") == 1


def test_headless_training_then_eval(capsys, sample_data, tmp_path, base_network):
    assert (
        main(
            [
                "train",
                str(sample_data),
                "--headless",
                "--steps",
                "80",
                "--lr",
                "0.02",
                "--name",
                "cats",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    patch = next(tmp_path.glob("cats_*.specialneurons"))
    assert next(tmp_path.glob("cats_*.npsnapshot")).stem == patch.stem
    assert str(patch) in out
    report = run_json(capsys, "eval", str(patch), str(sample_data), "--split", "val", "--json")
    shown = f"validation: end to end {report['end_to_end_accuracy']:.1%}, when triggered "
    assert shown + f"{report['accuracy']:.1%}" in out  # what training printed is what eval says
    assert report["images"] == 9
    assert report["triggered"] + report["not_triggered"] == 9
    assert report["accuracy"] > 0.6
    assert sum(map(sum, report["confusion"])) == 9


def test_resume_from_the_command_line(capsys, sample_data, tmp_path):
    assert (
        main(
            [
                "train",
                str(sample_data),
                "--headless",
                "--steps",
                "5",
                "--name",
                "a",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    snapshot = next(tmp_path.glob("a_*.npsnapshot"))
    assert (
        main(
            [
                "train",
                str(sample_data),
                "--headless",
                "--steps",
                "5",
                "--resume",
                str(snapshot),
                "--out",
                str(tmp_path / "more"),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "step 10 " in captured.out
    # The progress line counts the run's own steps and training time, not this session's.
    assert "training 5/5 step 10 loss" in captured.err and ", trained 0:" in captured.err
    assert (
        load_snapshot(next((tmp_path / "more").glob("a_*.npsnapshot"))).hyper["elapsed_s"]
        > load_snapshot(snapshot).hyper["elapsed_s"]
    )

    other = load_snapshot(snapshot)
    other.patch.base_fingerprint = "0123456789abcdef"
    foreign = save_snapshot(other, tmp_path / "foreign.npsnapshot")
    assert (
        main(
            [
                "train",
                str(sample_data),
                "--headless",
                "--steps",
                "5",
                "--resume",
                str(foreign),
                "--out",
                str(tmp_path / "more"),
            ]
        )
        == 2
    )
    assert "another base network (0123456789abcdef" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--seed", "-1", "--seed must be 0 or more"),
        ("--epochs", "nan", "--epochs must be a number above 0"),
        ("--steps", "0", "--steps must be at least 1"),
        ("--out", "FILE", "cannot use it as the output folder"),
        ("--name", "x" * 201, "'name' is longer than 200 characters"),
        ("--description", "x" * 10_001, "'description' is longer than 10000 characters"),
        ("--lr", "50", "lr must be a number in (0, 10]"),
        ("--checkpoint-every", "-1", "--checkpoint-every must be 0"),
    ],
)
def test_bad_run_options_are_refused_before_training(
    capsys, sample_data, tmp_path, option, value, words
):
    if value == "FILE":
        value = str(tmp_path / "a_file")
        Path(value).write_text("not a folder")
    assert main(["train", str(sample_data), "--headless", option, value]) == 2
    err = capsys.readouterr().err
    assert words in err and "extracting" not in err


def test_dataset_check_json(capsys, sample_data):
    out = run_json(capsys, "dataset", "check", str(sample_data), "--json")
    assert [o["images"] for o in out["outputs"]] == [14, 13, 14]
    assert len(out["triggers"]) == 13 and out["trigger_names"]["n02129604"] == "tiger"


def test_python_dash_m_behaves_like_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "neuralpatch", "--help"], capture_output=True, text=True, check=True
    )
    assert "classify" in done.stdout and "train" in done.stdout


def test_the_screens_refuse_a_pipe_and_point_to_headless(capsys, sample_data):
    # pytest captures stdout, so neither screen has a terminal to draw on.
    assert main(["train", str(sample_data)]) == 2
    assert "--headless" in capsys.readouterr().err
    assert main(["camera", "--source", str(sample_data)]) == 2
    assert "--headless" in capsys.readouterr().err
