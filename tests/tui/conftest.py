"""Fixtures for the training app tests: parsed CLI options and the app built from them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.main import build_parser
from neuralpatch.tui.train_app import TrainApp, make_train_app


def train_args(data: Path | str, *options: str) -> argparse.Namespace:
    """Options exactly as `neuralpatch train DATA OPTIONS...` parses them."""
    return build_parser().parse_args(["train", str(data), *options])


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def train_app(
    base_network: BaseNetwork, sample_data: Path, out_dir: Path
) -> Callable[..., TrainApp]:
    """Build the app on sample_data with the session's OpenCL base network."""

    def build(*options: str, data: Path | str | None = None) -> TrainApp:
        args = train_args(data or sample_data, "--out", str(out_dir), *options)
        return make_train_app(args, base=base_network, palette="256")

    return build
