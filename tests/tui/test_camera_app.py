"""The live testing screen driven with Pilot: real video, real trained patch, real snapping."""

from __future__ import annotations

import errno
import io
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pilot_helpers import run_async, wait_for
from textual.app import App
from textual.widgets import Label

from neuralpatch.commands.camera import camera_config
from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.snap import SnapTarget
from neuralpatch.engine.trainer import Trainer
from neuralpatch.engine.training_files import PatchInfo, save_training
from neuralpatch.main import build_parser
from neuralpatch.tui import camera_app as camera_app_module
from neuralpatch.tui.camera_app import CameraApp, make_camera_app
from neuralpatch.tui.camera_patches import PatchPanel
from neuralpatch.tui.camera_screen import CameraScreen
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.snap_dialog import SnapDialog

SIZE = (100, 30)


@pytest.fixture(scope="module")
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
    folder = tmp_path / "felix_cats"
    shutil.copytree(sample_data, folder)
    return folder


def camera_app(base_network, *argv: str) -> CameraApp:
    args = build_parser().parse_args(["camera", *argv])
    return make_camera_app(camera_config(args, base_network), palette="256")


def recorded_notifications(screen: CameraScreen) -> list[tuple[str, dict]]:
    seen: list[tuple[str, dict]] = []
    original = screen.notify

    def notify(message: str, **kwargs: Any) -> None:
        seen.append((message, kwargs))
        original(message, **kwargs)

    screen.notify = notify  # type: ignore[method-assign]
    return seen


@run_async
async def test_live_pass_shows_the_cat_its_patch_and_the_speed(
    base_network, cat_video, patch_dir, dataset
):
    app = camera_app(base_network, "--source", str(cat_video), "--patches", str(patch_dir))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.camera_screen
        await wait_for(
            pilot, lambda: screen.current is not None and screen.current.result.patches != []
        )
        await pilot.pause()
        identified = str(screen.query_one("#camera-identified", Label).content)
        best = screen.current.result.top[0]
        assert identified.startswith(best.name) and "cats:" in identified  # one spelling
        stats = str(screen.query_one("#camera-stats", Label).content)
        assert "fps" in stats and "base" in stats and "patches" in stats
        view = screen.query_one("#camera-view", ImageView)
        assert view.image is not None
        assert len(view._overlays) == 1 and view._overlays[0].icon is not None
        assert "cats" in str(screen.query_one(PatchPanel).content)
        assert "●" in str(screen.query_one("#camera-status", Label).content)


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
        await wait_for(pilot, lambda: isinstance(app.screen, SnapDialog))
        dialog = app.screen
        await wait_for(pilot, lambda: dialog.query("#snap-categories").first().option_count)
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


@run_async
async def test_a_video_missing_at_the_start_is_one_error(base_network, tmp_path):
    app = camera_app(base_network, "--source", str(tmp_path / "typo.avi"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.camera_screen
        await wait_for(pilot, lambda: screen.loop_finished.is_set(), "the loop to end")
        await pilot.pause(0.3)
        status = screen.query_one("#camera-status", Label)
        assert "stopped" in str(status.content) and "typo.avi" in str(status.content)
        view = screen.query_one("#camera-view", ImageView)
        assert view.image is None and "not found" in view.placeholder
        errors = [n.message for n in app._notifications if n.severity == "error"]
    assert len(errors) == 1 and "typo.avi" in errors[0]  # said once, never retried


@run_async
async def test_lost_source_shows_a_message_and_comes_back(base_network, tmp_path, tree_video):
    video = tmp_path / "later.avi"
    shutil.copy(tree_video, video)
    app = camera_app(base_network, "--source", str(video))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.camera_screen
        seen = recorded_notifications(screen)
        status = screen.query_one("#camera-status", Label)
        await wait_for(pilot, lambda: screen.current is not None, "the first frame")
        video.unlink()  # the open capture plays to its end, then cannot reopen
        await wait_for(pilot, lambda: "not found" in str(status.content), "the loss")
        view = screen.query_one("#camera-view", ImageView)
        assert view.image is None and "later.avi" in view.placeholder
        assert "retrying" in view.caption
        await pilot.press("s")  # nothing to snap: a warning, not a dialog
        await pilot.pause()
        assert seen and seen[-1][1].get("severity") == "warning"
        shutil.copy(tree_video, video)  # the camera is back
        await wait_for(pilot, lambda: screen.current is not None)
        assert view.image is not None and "●" in str(status.content)


@run_async
async def test_patch_list_follows_the_folder(base_network, cat_video, patch_dir):
    app = camera_app(base_network, "--source", str(cat_video), "--patches", str(patch_dir))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.camera_screen
        panel = screen.query_one(PatchPanel)
        await wait_for(pilot, lambda: "cats" in str(panel.content))
        (patch_dir / "broken.specialneurons").write_bytes(b"not a patch")
        await wait_for(pilot, lambda: "broken.specialneurons" in str(panel.content))
        assert "✗" in str(panel.content)
        assert "previous version" not in str(panel.content)  # nothing of it ever ran
        # garbage over the running patch: refused, and the panel says the old one still runs
        running = next(patch_dir.glob("cats_*"))
        running.write_bytes(b"\x1b]0;garbage\x07")
        await wait_for(pilot, lambda: "previous version still running" in str(panel.content))
        assert "● cats" in str(panel.content) and "\x1b" not in str(panel.content)
        for path in patch_dir.glob("cats_*"):
            path.unlink()
        await wait_for(pilot, lambda: "● cats" not in str(panel.content))
        await wait_for(
            pilot, lambda: screen.current is not None and screen.current.result.patches == []
        )


@run_async
async def test_a_looping_video_says_so_in_the_frame_title(base_network, tree_video):
    app = camera_app(base_network, "--source", str(tree_video))
    async with app.run_test(size=SIZE) as pilot:
        view = app.camera_screen.query_one("#camera-view", ImageView)
        await wait_for(pilot, lambda: "↻ loop 2" in view.caption)
        assert "tree.avi · frame" in view.caption


def test_overlay_is_a_badge_for_a_patch_without_icon():
    from types import SimpleNamespace

    from neuralpatch.tui.live_text import overlays_for

    node = SimpleNamespace(icon_rgba=None, name="breeds")
    icon = SimpleNamespace(icon_rgba=np.zeros((4, 4, 4), np.uint8), name="cats")
    result = SimpleNamespace(result=SimpleNamespace(walk=lambda: [(0, icon), (1, node)]))
    overlays = overlays_for(result)  # type: ignore[arg-type]
    assert overlays[0].icon is not None and overlays[1].label == "breeds"


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
async def test_hostile_names_never_reach_the_terminal_raw(
    base_network, cat_video, trained_patch, sample_data, tmp_path
):
    from dataclasses import replace

    from neuralpatch.engine.patch_file import PatchOutput, load_patch, save_patch

    evil = "\x1b]0;pwned\x07\x9b2J"
    real = load_patch(trained_patch)
    outputs = [PatchOutput(o.tag, f"{o.name}{evil}") for o in real.outputs]
    hostile = replace(real, name=f"cats{evil}", outputs=outputs, icon_png=None)  # a badge
    folder = tmp_path / "patches"
    folder.mkdir()
    save_patch(hostile, folder / "hostile.specialneurons")
    (folder / f"bad{evil}.specialneurons").write_bytes(b"not a patch")
    dataset = tmp_path / f"felix{evil}"
    shutil.copytree(sample_data, dataset)
    rows = (dataset / "map_clsloc.txt").read_text().splitlines()
    (dataset / "map_clsloc.txt").write_text("".join(f"{row}{evil}\n" for row in rows))
    app = camera_app(
        base_network,
        *("--source", str(cat_video), "--patches", str(folder), "--dataset", str(dataset)),
    )
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.camera_screen
        await wait_for(pilot, lambda: screen.current is not None and screen.current.result.patches)
        await wait_for(pilot, lambda: len(app._notifications) > 0, "the rejected-file toast")
        await pilot.pause(0.2)
        shown = "".join(strip.text for strip in app.screen._compositor.render_strips())
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapDialog))
        dialog = app.screen
        await wait_for(pilot, lambda: dialog.query("#snap-categories").first().option_count)
        await pilot.pause(0.2)
        snap = "".join(strip.text for strip in app.screen._compositor.render_strips())
    for text in (shown, snap):
        assert [c for c in text if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F] == []
    assert "cats\\x1b]0;pwned" in shown  # the name is on screen, escaped
    assert "bad\\x1b" in shown  # so is the rejected file's name
    assert "domestic_cat\\x1b]0;pwned" in snap and "felix\\x1b" in snap
