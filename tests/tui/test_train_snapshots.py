"""SVG snapshots of the training app's main screen and its dialogs (fixed content, taken
before training starts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pilot_helpers import wait_for, wait_for_screen
from textual.pilot import Pilot
from textual.widgets import Input

from neuralpatch.commands.train import training_options
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.patch_model import LinearPatch
from neuralpatch.engine.trainer import SampleShown
from neuralpatch.engine.training_files import SavedFiles
from neuralpatch.main import build_parser
from neuralpatch.tui.dialogs import InferenceDialog, QuitDialog, ReconfigureDialog
from neuralpatch.tui.photo_heat import PatchLens
from neuralpatch.tui.train_app import make_train_app

OUTPUTS = ["domestic_cat", "wildcat_small_non_domestic", "big_cat"]


SNAPSHOT_OUT = "/tmp/neuralpatch-snapshots/out"


@pytest.fixture
def snapshot_app(base_network, sample_data: Path, monkeypatch: pytest.MonkeyPatch):
    """The app as a user starts it from the repository folder: paths the same everywhere (the
    start dialog shows the output folder's whole path, so it is one no checkout owns)."""
    monkeypatch.chdir(sample_data.parent)
    args = build_parser().parse_args(
        ["train", "sample_data", "--out", SNAPSHOT_OUT, "--name", "cats"]
    )
    return make_train_app(training_options(args), base=base_network, palette="256")


@pytest.fixture
def fixed_sample(sample_data: Path) -> SampleShown:
    """A real photo with made-up probabilities: the patch gets it wrong."""
    path = sample_data / "n02121808_105.jpg"
    return SampleShown(
        path,
        decode_image(path),
        true_index=0,
        predicted_index=2,
        probabilities=np.array([0.27, 0.05, 0.68], np.float32),
    )


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_snapshot_main_screen(snap_compare, snapshot_app, size):
    assert snap_compare(snapshot_app, terminal_size=size, run_before=steady_cursor_of)


def steady_cursor_of(pilot: Pilot) -> None:
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False


def test_snapshot_reconfigure_dialog(snap_compare, snapshot_app):
    async def open_dialog(pilot: Pilot) -> None:
        steady_cursor_of(pilot)
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, ReconfigureDialog)

    assert snap_compare(snapshot_app, run_before=open_dialog)


@pytest.mark.parametrize("saved", [False, True])
def test_snapshot_inference_dialog(
    snap_compare, snapshot_app, fixed_sample, saved, base_network, felix_patch
):
    files = (
        SavedFiles(
            Path("out/cats_18eaa28c0de2.npsnapshot"), Path("out/cats_18eaa28c0de2.specialneurons")
        )
        if saved
        else None
    )

    async def open_dialog(pilot: Pilot) -> None:
        steady_cursor_of(pilot)
        tags, names = [o.tag for o in felix_patch.outputs], [o.name for o in felix_patch.outputs]
        patch = LinearPatch(felix_patch.weights, felix_patch.bias)
        lens = PatchLens(base_network, patch, "cats", tags, names)
        pilot.app.push_screen(
            InferenceDialog(fixed_sample, OUTPUTS, True, saved=files, palette="256", lens=lens)
        )
        await wait_for_screen(pilot, InferenceDialog)
        await wait_for(pilot, lambda: pilot.app.screen.explained is not None, "the heat-map")

    assert snap_compare(snapshot_app, run_before=open_dialog)


def test_snapshot_quit_dialog(snap_compare, snapshot_app):
    async def open_dialog(pilot: Pilot) -> None:
        steady_cursor_of(pilot)
        pilot.app.push_screen(QuitDialog(1234))
        await wait_for_screen(pilot, QuitDialog)

    assert snap_compare(snapshot_app, run_before=open_dialog)
