"""Fixtures for the app tests: training run options parsed as the CLI does and the training
app; a real cat video, a really trained patch and a dataset to snap into for the live screens,
and a small dataset for teach mode."""

from __future__ import annotations

import io
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest
from PIL import Image

from neuralpatch.commands.train import training_options
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, save_training
from neuralpatch.engine.training_plan import TrainingOptions
from neuralpatch.main import build_parser
from neuralpatch.tui.train_app import TrainApp, make_train_app


def train_options(data: Path | str, *options: str) -> TrainingOptions:
    """Options exactly as `neuralpatch train DATA OPTIONS...` turns them into run options."""
    return training_options(build_parser().parse_args(["train", str(data), *options]))


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def train_app(
    base_network: BaseNetwork, sample_data: Path, out_dir: Path
) -> Callable[..., TrainApp]:
    """Build the app on sample_data with the session's OpenCL base network."""

    def build(*options: str, data: Path | str | None = None) -> TrainApp:
        # These tests pause, resume and save a running training: it must not stop by itself
        # under them (a cached step takes microseconds), unless a test asks for --patience.
        if "--patience" not in options:
            options = ("--patience", "0", *options)
        run = train_options(data or sample_data, "--out", str(out_dir), *options)
        return make_train_app(run, base=base_network, palette="256")

    return build


@pytest.fixture(scope="module")
def cat_video(tmp_path_factory, photos) -> Path:
    """A real MJPG .avi of chelsea (a tabby cat), written with cv2.VideoWriter."""
    path = tmp_path_factory.mktemp("video") / "cat.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (400, 300))
    frame = cv2.resize(photos["chelsea"], (400, 300), interpolation=cv2.INTER_AREA)
    for _ in range(6):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="session")
def trained_patch(base_network, sample_data, tmp_path_factory) -> Path:
    """A real patch trained on the cat sample set, with a red icon."""
    trainer = Trainer(
        base_network,
        load_dataset(sample_data, base_network.classes.tag_names()),
        HyperParams(batch_size=8, lr=0.02),
    )
    trainer.prepare()
    trainer.run(threading.Event(), steps=40)
    icon = io.BytesIO()
    Image.new("RGBA", (12, 12), (230, 30, 40, 255)).save(icon, format="PNG")
    out = tmp_path_factory.mktemp("trained")
    return save_training(trainer, PatchInfo("cats", icon_png=icon.getvalue()), out).patch


@pytest.fixture
def patch_dir(trained_patch, tmp_path) -> Path:
    """Only the plugin file: no snapshot beside it, so its dataset is not offered."""
    folder = tmp_path / "patches"
    folder.mkdir()
    shutil.copy(trained_patch, folder / trained_patch.name)
    return folder


@pytest.fixture
def dataset(sample_data, tmp_path) -> Path:
    """A writable copy of the sample cats dataset, for snaps to land in."""
    folder = tmp_path / "felix_cats"
    shutil.copytree(sample_data, folder)
    return folder


@pytest.fixture
def teach_dataset(tmp_path: Path, sample_data: Path) -> tuple[Path, Path]:
    """A small cats dataset for teach mode and a folder of the same photos to stream from."""
    root, source = tmp_path / "cats", tmp_path / "stream"
    root.mkdir()
    source.mkdir()
    shutil.copy(sample_data / "map_clsloc.txt", root)
    for photo in sorted(sample_data.glob("n*.jpg"))[::6]:
        shutil.copy(photo, root)
        shutil.copy(photo, source)
    return root, source
