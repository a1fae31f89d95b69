"""The camera screen's heat-map overlay: real video, real patch, real base pass."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from pilot_helpers import run_async, wait_for
from textual.app import App, ComposeResult

from neuralpatch.commands.camera import camera_config
from neuralpatch.engine.frame_source import make_source
from neuralpatch.engine.live_loop import LiveLoop
from neuralpatch.engine.patch_file import save_patch
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.main import build_parser
from neuralpatch.tui.camera_app import make_camera_app
from neuralpatch.tui.heatmap_overlay import LEGEND_COLUMNS, HeatmapOverlay
from neuralpatch.tui.image_view import ImageView

SIZE = (100, 30)


@pytest.fixture(scope="module")
def felix_dir(felix_patch, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("camera-patches")
    save_patch(felix_patch, folder / "felix-cats.specialneurons")
    return folder


def camera_app(base_network, *argv: str):
    args = build_parser().parse_args(["camera", *argv])
    return make_camera_app(camera_config(args, base_network), palette="256")


def first_pass(base_network, source: Path, patches: PatchSystem | None = None):
    """The live loop's result for the first frame of a real video."""
    loop = LiveLoop(base_network, make_source(str(source)), patches)
    assert loop.run(threading.Event(), max_frames=1) == 1
    return loop.latest


@run_async
async def test_h_toggles_the_base_map_over_the_live_frame(base_network, tree_video):
    app = camera_app(base_network, "--source", str(tree_video))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.camera_screen
        view = screen.query_one("#camera-view", ImageView)
        await wait_for(pilot, lambda: screen.current is not None)
        assert view._layer is None
        await pilot.press("h")
        await wait_for(pilot, lambda: view._layer is not None)
        heat = view._layer.heatmap
        assert heat.subject.source == "base"
        assert heat.subject.index == screen.current.result.top[0].index
        badges = [o.label for o in view._overlays if o.label.startswith("heat:")]
        assert badges and "base →" in badges[0]
        built = view.build_count
        passes = screen.current.index
        await wait_for(pilot, lambda: screen.current.index > passes + 1)  # follows the video
        await pilot.pause()
        assert view._layer is not None and view.build_count > built
        await pilot.press("h")
        await pilot.pause()
        assert view._layer is None and not any(o.label.startswith("heat:") for o in view._overlays)


@run_async
async def test_c_selects_the_triggered_patch(base_network, cat_video, felix_dir):
    app = camera_app(base_network, "--source", str(cat_video), "--patches", str(felix_dir))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.camera_screen
        view = screen.query_one("#camera-view", ImageView)
        await wait_for(
            pilot, lambda: screen.current is not None and screen.current.result.patches != []
        )
        await pilot.press("c")  # cycling also switches the overlay on
        await wait_for(pilot, lambda: view._layer is not None)
        assert screen.heat.selected == "felix cats"
        assert view._layer.heatmap.subject.source == "felix cats"
        assert any("felix cats →" in o.label for o in view._overlays)


def test_layer_paints_the_map_and_a_colour_scale(base_network, cat_video):
    live = first_pass(base_network, cat_video)
    overlay = HeatmapOverlay(base_network)
    assert overlay.layer_for(live) is None  # off until toggled
    overlay.toggle()
    layer = overlay.layer_for(live)
    pixels = cv2.resize(live.image, (90, 68), interpolation=cv2.INTER_AREA)
    painted = layer.blend(pixels.copy())
    assert painted.shape == pixels.shape and not np.array_equal(painted, pixels)
    legend = painted[:, -LEGEND_COLUMNS:].astype(int)
    assert legend[0, 0, 0] > legend[0, 0, 2] and legend[-1, 0, 2] > legend[-1, 0, 0]  # red→blue
    x0, _, x1, _ = (round(v * 90 / live.image.shape[1]) for v in layer.heatmap.box)
    outside = painted[:, : x0 - 1].astype(int).sum()
    assert outside < pixels[:, : x0 - 1].astype(int).sum()  # unseen margins are dimmed


class HeatViewApp(App[None]):
    """A tree.avi frame with the base network's map over it, as the camera screen draws it."""

    def __init__(self, frame: np.ndarray, overlay: HeatmapOverlay, live) -> None:
        super().__init__()
        self.frame, self.overlay, self.live = frame, overlay, live

    def compose(self) -> ComposeResult:
        yield ImageView(palette="256")

    def on_mount(self) -> None:
        view = self.query_one(ImageView)
        layer = self.overlay.layer_for(self.live)
        view.set_image(self.frame, caption="tree.avi · frame 0")
        view.set_layer(layer)
        view.set_overlays(self.overlay.overlays(layer))


def test_snapshot_heatmap_overlay(snap_compare, base_network, tree_video):
    live = first_pass(base_network, tree_video)
    overlay = HeatmapOverlay(base_network)
    overlay.toggle()
    assert snap_compare(HeatViewApp(live.image, overlay, live), terminal_size=(80, 24))
