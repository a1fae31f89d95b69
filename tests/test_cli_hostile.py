"""Hostile names never reach the terminal raw: every text command, on real trained files.

The patch name, its output names, the map's names and a photo's file name all carry a
window-title escape (`ESC ] 0;pwned BEL`), a CSI introducer (U+009B) and a bidi override.
Each command's stdout and stderr must hold none of those characters raw, and `--json`
output must stay strict JSON that gives the names back exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.patch_file import load_patch
from neuralpatch.engine.trainer import HyperParams, Trainer
from neuralpatch.engine.training_files import PatchInfo, save_training
from neuralpatch.main import main

EVIL = "\x1b]0;pwned\x07\x9b2J\u202e"
PATCH_NAME = f"cats{EVIL}"
PHOTO = f"n02121808_{EVIL}.jpg"


def raw_controls(text: str) -> list[str]:
    """Characters that act on a terminal: C0 controls but newline, DEL, C1, bidi overrides."""
    return [
        c
        for c in text
        if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F or c in "\u202e\u202d"
    ]


@pytest.fixture(scope="module")
def hostile_data(sample_data, tmp_path_factory) -> Path:
    """The sample set with hostile map names and one photo with a hostile file name."""
    root = tmp_path_factory.mktemp("hostile") / "felix"
    shutil.copytree(sample_data, root)
    rows = (root / "map_clsloc.txt").read_text().splitlines()
    rows = [f"{t} {i} {n}{EVIL}" for t, i, n in (r.split() for r in rows)]
    (root / "map_clsloc.txt").write_text("\n".join(rows) + "\n")
    shutil.copy(root / "n02121808_101.jpg", root / PHOTO)
    return root


@pytest.fixture(scope="module")
def hostile_patches(base_network, hostile_data, tmp_path_factory) -> Path:
    """A folder with a real patch named PATCH_NAME, trained on hostile_data."""
    trainer = Trainer(
        base_network,
        load_dataset(hostile_data, base_network.classes.tag_names()),
        HyperParams(batch_size=8, lr=0.02),
    )
    trainer.prepare()
    trainer.run(threading.Event(), steps=20)
    folder = tmp_path_factory.mktemp("hostile_patches")
    save_training(trainer, PatchInfo(PATCH_NAME), folder)
    return folder


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def patch_file(folder: Path) -> Path:
    return next(folder.glob("*.specialneurons"))


def test_patches_text_and_json(capsys, hostile_patches):
    assert load_patch(patch_file(hostile_patches)).name == PATCH_NAME
    code, out, err = run(capsys, "patches", str(hostile_patches))
    assert code == 0 and "cats\\x1b]0;pwned\\x07" in out
    assert raw_controls(out + err) == []
    code, out, err = run(capsys, "patches", str(hostile_patches), "--json")
    assert raw_controls(out + err) == [] and out.isascii()
    assert json.loads(out)["patches"][0]["name"] == PATCH_NAME


def test_classify_with_patches(capsys, hostile_patches, hostile_data):
    photo = str(hostile_data / PHOTO)
    code, out, err = run(capsys, "classify", photo, "--patches", str(hostile_patches))
    assert code == 0 and "patches:" in out and "\\x1b" in out
    assert raw_controls(out + err) == []
    code, out, err = run(capsys, "classify", photo, "--patches", str(hostile_patches), "--json")
    assert raw_controls(out + err) == []
    assert json.loads(out)["images"][0]["path"] == photo


def test_an_unreadable_hostile_photo_name_in_an_error(capsys, tmp_path):
    bad = tmp_path / PHOTO
    bad.write_bytes(b"not a photo")
    code, out, err = run(capsys, "classify", str(bad))
    assert code == 2 and "cannot decode" in err
    assert raw_controls(out + err) == []


def test_eval_text_and_json(capsys, hostile_patches, hostile_data):
    patch = str(patch_file(hostile_patches))
    code, out, err = run(capsys, "eval", patch, str(hostile_data))
    assert code == 0 and "end-to-end accuracy" in out
    assert raw_controls(out + err) == []
    code, out, err = run(capsys, "eval", patch, str(hostile_data), "--json")
    assert raw_controls(out + err) == [] and json.loads(out)["patch"] == PATCH_NAME


def test_dataset_check_text_and_json(capsys, hostile_data):
    code, out, err = run(capsys, "dataset", "check", str(hostile_data))
    assert code == 0 and "domestic_cat\\x1b]0;pwned" in out
    assert raw_controls(out + err) == []
    code, out, err = run(capsys, "dataset", "check", str(hostile_data), "--json")
    assert raw_controls(out + err) == []
    names = [o["name"] for o in json.loads(out)["outputs"]]
    assert f"domestic_cat{EVIL}" in names


def test_train_headless(capsys, hostile_data, tmp_path):
    code, out, err = run(
        capsys,
        "train",
        str(hostile_data),
        "--headless",
        "--steps",
        "2",
        "--name",
        PATCH_NAME,
        "--out",
        str(tmp_path),
    )
    assert code == 0 and "training 'cats\\x1b" in out
    assert raw_controls(out + err) == []


def test_errors_naming_a_hostile_file(capsys, tmp_path):
    bad = tmp_path / f"x{EVIL}.specialneurons"
    bad.write_bytes(b"NPATCH\x00\x01garbage")
    code, out, err = run(capsys, "eval", str(bad), str(tmp_path))
    assert code == 2 and "neuralpatch: error:" in err
    assert raw_controls(out + err) == []


def test_patches_watch_prints_events_safely(hostile_patches, tmp_path):
    folder = tmp_path / "watched"
    folder.mkdir()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "neuralpatch", "patches", str(folder), "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        lines: list[bytes] = []
        deadline = time.monotonic() + 120
        while not any(b"watching" in line for line in lines):
            assert time.monotonic() < deadline and child.poll() is None
            lines.append(child.stdout.readline())
        shutil.copy(patch_file(hostile_patches), folder / f"evil{EVIL}.specialneurons")
        while not any(b"loaded" in line for line in lines):
            assert time.monotonic() < deadline and child.poll() is None
            lines.append(child.stdout.readline())
    finally:
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    text = b"".join(lines).decode() + out.decode() + err.decode()
    assert "cats\\x1b]0;pwned" in text and "evil\\x1b" in text
    assert raw_controls(text) == []
