"""Fixtures for the app tests: training run options parsed as the CLI does and the training
app; a real cat video for the live screens and a small dataset for teach mode."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest

from neuralpatch.commands.train import training_options
from neuralpatch.engine.base_network import BaseNetwork
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
