"""`neuralpatch camera --headless` as scripts use it: a real video, a real trained patch."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, save_training
from neuralpatch.main import main


@pytest.fixture(scope="module")
def cat_coffee_video(tmp_path_factory, photos) -> Path:
    """6 frames of chelsea (a tabby) then 6 of coffee (espresso): a real MJPG .avi."""
    path = tmp_path_factory.mktemp("video") / "cat_coffee.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (400, 300))
    for rgb in [photos["chelsea"]] * 6 + [photos["coffee"]] * 6:
        resized = cv2.resize(rgb, (400, 300), interpolation=cv2.INTER_AREA)
        writer.write(cv2.cvtColor(resized, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def patch_dir(base_network, sample_data, tmp_path_factory) -> Path:
    """A folder holding one real patch trained on the cat sample set."""
    folder = tmp_path_factory.mktemp("patches")
    trainer = Trainer(
        base_network,
        load_dataset(sample_data, base_network.classes.tag_names()),
        HyperParams(batch_size=8, lr=0.02),
    )
    trainer.prepare()
    trainer.run(threading.Event(), steps=40)
    icon = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(icon, format="PNG")
    save_training(trainer, PatchInfo("cats", icon_png=icon.getvalue()), folder)
    return folder


def test_json_lines_per_frame_with_the_patch_tree(capsys, cat_coffee_video, patch_dir):
    code = main(
        [
            "camera",
            "--headless",
            "--source",
            str(cat_coffee_video),
            "--patches",
            str(patch_dir),
            "--frames",
            "12",
            "--json",
            "--probabilities",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["frame"] for r in records] == list(range(12))
    for r in records:
        assert set(r) >= {"frame", "source_frame", "base", "patches", "timings", "fps"}
        assert set(r["base"]) == {"index", "tag", "name", "probability"}
        assert set(r["timings"]) == {"base_ms", "patches_ms", "total_ms"}
        assert r["timings"]["total_ms"] >= r["timings"]["base_ms"] > 0
    cats, coffee = records[:6], records[6:]
    assert all([p["name"] for p in r["patches"]] == ["cats"] for r in cats)
    assert all(r["patches"] == [] and r["base"]["name"] == "espresso" for r in coffee)
    first = cats[0]["patches"][0]
    assert first["output"]["name"] in ("domestic_cat", "wildcat_small_non_domestic", "big_cat")
    assert len(first["probabilities"]) == 3 and first["children"] == [] and first["icon"]
    assert "patch loaded" in captured.err  # folder messages stay off stdout


def test_text_lines_on_the_tree_video(capsys, tree_video):
    assert main(["camera", "--headless", "--source", str(tree_video), "--frames", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert all("base" in line and "ms" in line and "patches: -" in line for line in lines)


def test_unreadable_source_is_one_clear_error(capsys, tmp_path):
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"not a video")
    assert main(["camera", "--headless", "--source", str(bad), "--frames", "2"]) == 2
    err = capsys.readouterr().err
    assert "broken.avi" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("neuralpatch: error:")


def test_missing_camera_retries_then_gives_up_quietly(capfd):
    code = main(["camera", "--headless", "--source", "97", "--retries", "1", "--frames", "1"])
    err = capfd.readouterr().err
    assert code == 2
    assert "cannot open camera 97" in err and "retrying in 0.5 s" in err
    assert "WARN" not in err and "VIDEOIO" not in err  # OpenCV's own logging stays off


def test_help_documents_the_json_keys(capsys):
    with pytest.raises(SystemExit):
        main(["camera", "--help"])
    text = capsys.readouterr().out
    for key in ("source_frame", "base_ms", "patches_ms", "total_ms", "children", "dropped"):
        assert key in text
