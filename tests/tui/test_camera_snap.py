"""Snapping on the live testing screen driven with Pilot: a frozen frame filed into a real
dataset, a failed save reported, and the snap dialog's SVG snapshot."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
from pilot_helpers import camera_app, recorded_notifications, run_async, wait_for, wait_for_screen
from textual.app import App
from textual.widgets import OptionList

from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.snap_to_dataset import SnapTarget
from neuralpatch.tui import camera_app as camera_app_module
from neuralpatch.tui.camera_app import CameraApp
from neuralpatch.tui.camera_screen import CameraScreen
from neuralpatch.tui.snap_dialog import SnapDialog

SIZE = (100, 30)


@run_async
async def test_snap_key_files_the_frozen_frame_into_the_dataset(
    base_network, cat_video, patch_dir, dataset
):
    app = camera_app(
        base_network,
        "--source",
        str(cat_video),
        "--patches",
        str(patch_dir),
        "--dataset",
        str(dataset),
    )
    before = {p.name for p in dataset.iterdir()}
    async with app.run_test(size=SIZE) as pilot:
        screen = app.camera_screen
        await wait_for(pilot, lambda: screen.current is not None)
        await pilot.press("s")
        await wait_for_screen(pilot, SnapDialog)  # composed: its option list is there
        dialog = app.screen
        categories = dialog.query_one("#snap-categories", OptionList)
        await wait_for(pilot, lambda: categories.option_count, "the dataset's categories")
        assert len(dialog.targets) == 1 and dialog.targets[0].root == dataset.resolve()
        assert screen.frozen
        await pilot.press("enter")  # the dataset: on to its categories
        await pilot.press("down")  # the second output: wildcat_small_non_domestic
        await pilot.press("enter")  # save
        await wait_for(pilot, lambda: len(screen.snapped) == 1)
        assert not screen.frozen and isinstance(app.screen, CameraScreen)
    new = {p.name for p in dataset.iterdir()} - before
    assert len(new) == 1 and new.pop().startswith("n02124623_")
    counted = load_dataset(dataset, base_network.classes.tag_names())
    wild = next(c for c in counted.outputs if c.tag == "n02124623")
    assert screen.snapped[0] in wild.images


@run_async
async def test_a_failed_snap_is_an_error_notification(
    base_network, cat_video, dataset, monkeypatch
):
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("neuralpatch.engine.atomic.os.fsync", full)
    app = camera_app(base_network, "--source", str(cat_video), "--dataset", str(dataset))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.camera_screen
        seen = recorded_notifications(screen)
        await wait_for(pilot, lambda: screen.current is not None)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapDialog))
        await pilot.press("enter", "enter")
        await wait_for(pilot, lambda: any(kw.get("severity") == "error" for _, kw in seen))
        message = next(m for m, kw in seen if kw.get("severity") == "error")
        assert "the disk is full" in message and str(dataset) in message
        passes = screen.current.index
        await wait_for(pilot, lambda: screen.current.index > passes)  # still live
    assert not [p for p in dataset.iterdir() if p.name.startswith(("n02121808_2", "."))]


class SnapDialogApp(App[None]):
    """The snap dialog alone, on a fixed photo and dataset, for the SVG snapshot."""

    CSS_PATH = Path(camera_app_module.__file__).parent / CameraApp.CSS_PATH

    def __init__(self, image: np.ndarray, target: SnapTarget) -> None:
        super().__init__()
        self.image, self.target = image, target

    def on_mount(self) -> None:
        self.push_screen(
            SnapDialog(
                self.image,
                [self.target],
                [],
                "256",
                "Base network: tiger_cat 39%; cats: domestic_cat 100%. What is it really?",
            )
        )


def test_snapshot_snap_dialog(snap_compare, photos, sample_data, base_network):
    categories = load_dataset(sample_data, base_network.classes.tag_names()).outputs
    target = SnapTarget(Path("felix_cats"), "felix_cats (patch cats)", categories, ["cats"])
    assert snap_compare(SnapDialogApp(photos["chelsea"], target), terminal_size=SIZE)


@run_async
async def test_a_notice_raised_under_the_snap_dialog_waits_for_it(
    base_network, cat_video, patch_dir, dataset
):
    """A patch reloaded (or any notice) while a dialog is open never lands on the dialog."""
    app = camera_app(base_network, "--source", str(cat_video), "--dataset", str(dataset))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.camera_screen
        await wait_for(pilot, lambda: screen.current is not None)
        await pilot.press("s")
        await wait_for_screen(pilot, SnapDialog)
        screen.notify("cats replaced", timeout=5)
        await pilot.pause(0.3)
        assert not list(app.screen.query("Toast")) and len(screen.held_notices) == 1
        await pilot.press("escape")
        await wait_for_screen(pilot, CameraScreen)
        await wait_for(pilot, lambda: list(screen.query("Toast")), "the notice, back on screen")
        assert (
            "cats replaced" in str(screen.query_one("Toast").render()) and not screen.held_notices
        )
