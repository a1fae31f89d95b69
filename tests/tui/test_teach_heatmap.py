"""The teach screen's heat-map (h, c), market (m) and publish (u) keys, and a source that does
not exist: real photos, a real trained patch in the folder, real base passes."""

from __future__ import annotations

import threading

import pytest
from pilot_helpers import run_async, wait_for, wait_for_screen
from textual.app import App, ComposeResult
from textual.widgets import Input

from neuralpatch.engine.catalogue import read_catalogue_dir
from neuralpatch.engine.folder_source import ImageFolderSource
from neuralpatch.engine.live_loop import LiveLoop
from neuralpatch.engine.patch_file import load_patch, save_patch
from neuralpatch.engine.teach_config import TeachConfig
from neuralpatch.engine.teach_session import TeachSession
from neuralpatch.tui.heatmap_overlay import HeatmapOverlay, taught_head
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.market_screen import MarketScreen
from neuralpatch.tui.publish_dialog import PublishDialog
from neuralpatch.tui.teach_app import make_teach_app
from neuralpatch.tui.teach_screen import TAUGHT, TeachScreen

SIZE = (120, 40)


def _badges(view: ImageView) -> list[str]:
    """The heat-map's badge (the teach screen draws no other)."""
    return [o.label for o in view._overlays]


@run_async
async def test_h_shows_the_taught_patch_and_c_cycles_to_the_folder_patch(
    base_network, felix_patch, tmp_path, teach_dataset
):
    root, source = teach_dataset
    patches = tmp_path / "patches"
    patches.mkdir()
    save_patch(felix_patch, patches / "felix-cats.specialneurons")
    config = TeachConfig(base_network, root, str(source), str(patches), interval=0.2)
    app = make_teach_app(config, palette="256")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.teach_screen
        view = screen.query_one("#teach-view", ImageView)
        await wait_for(
            pilot,
            lambda: screen.current is not None and screen.current[0].result.patches != [],
            "a frame the folder's patch triggers on",
        )
        await pilot.press("h")
        await wait_for(pilot, lambda: view._layer is not None, "the overlay")
        taught = TAUGHT.format("cats")
        assert view._layer.heatmap.subject.source == taught
        layer = view._layer
        assert layer.label().startswith(f"heat: {taught} → {layer.heatmap.subject.name}")
        badge = _badges(view)[0] if _badges(view) else ""
        assert layer.heatmap.subject.name in badge and len(badge) + 2 <= view.content_size.width
        await pilot.press("c")
        await wait_for(pilot, lambda: screen.heat.selected == "felix cats", "the next map")
        await wait_for(pilot, lambda: view._layer.heatmap.subject.source == "felix cats")
        await pilot.press("c")  # wraps round to the taught patch
        await wait_for(pilot, lambda: view._layer.heatmap.subject.source == taught)
        await pilot.press("h")
        await pilot.pause()
        assert view._layer is None and _badges(view) == []


@run_async
async def test_a_frame_nothing_triggers_on_shows_the_base_map(
    base_network, tmp_path, teach_dataset, tree_video
):
    root, _ = teach_dataset
    config = TeachConfig(base_network, root, str(tree_video), out=str(tmp_path / "out"))
    app = make_teach_app(config, palette="256")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.teach_screen
        view = screen.query_one("#teach-view", ImageView)
        await wait_for(pilot, lambda: screen.current is not None, "the first frame")
        assert not screen.current[1].triggered  # a tree is none of a cats patch's triggers
        await pilot.press("h")
        await wait_for(pilot, lambda: view._layer is not None, "the overlay")
        heat = view._layer.heatmap
        assert heat.subject.source == "base"
        assert heat.subject.index == screen.current[0].result.top[0].index


@run_async
async def test_m_opens_the_market_and_u_publishes_the_taught_patch(
    base_network, tmp_path, monkeypatch, teach_dataset
):
    monkeypatch.setenv("NEURALPATCH_CONFIG_DIR", str(tmp_path / "config"))
    root, source = teach_dataset
    config = TeachConfig(base_network, root, str(source), out=str(tmp_path / "out"), interval=0.2)
    app = make_teach_app(config, palette="256")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.teach_screen
        await wait_for(pilot, lambda: screen.current is not None, "the first frame")
        await pilot.press("m")
        await wait_for_screen(pilot, MarketScreen)
        await pilot.press("escape")
        await wait_for_screen(pilot, TeachScreen)
        await pilot.press("1")
        await wait_for(pilot, lambda: len(screen.session.rolling) == 1, "a label")
        await pilot.press("u")  # unsaved: saved first, then the publish dialog
        await wait_for_screen(pilot, PublishDialog)
        assert len(screen.saved) == 2
        dialog = app.screen
        dialog.query_one("#publish-to", Input).value = str(tmp_path / "catalogue")
        await pilot.press("enter")
        await wait_for_screen(pilot, TeachScreen)
    entries = read_catalogue_dir(tmp_path / "catalogue").entries
    assert [e.name for e in entries] == ["cats"]
    published = tmp_path / "catalogue" / entries[0].file
    assert published.read_bytes() == screen.saved[1].read_bytes()
    assert load_patch(published).icon_png is not None  # a thumbnail of the labelled photo


@run_async
async def test_a_missing_video_is_one_error_before_the_dataset_loads(
    base_network, tmp_path, teach_dataset
):
    root, _ = teach_dataset
    config = TeachConfig(base_network, root, str(tmp_path / "gone.avi"))
    app = make_teach_app(config, palette="256")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.teach_screen
        await wait_for(pilot, lambda: screen.loop_finished.is_set(), "the worker to end")
        await pilot.pause(0.3)
        errors = [n.message for n in app._notifications if n.severity == "error"]
        view = screen.query_one("#teach-view", ImageView)
        assert "gone.avi" in view.placeholder and "not found" in view.placeholder
        assert screen.session is None  # nothing loaded, nothing to save
    assert len(errors) == 1 and "gone.avi" in errors[0]


class TaughtHeatApp(App[None]):
    """A sample photo with the taught patch's map over it, as the teach screen draws it."""

    def __init__(self, live, layer, badges) -> None:
        super().__init__()
        self.live, self.layer, self.badges = live, layer, badges

    def compose(self) -> ComposeResult:
        yield ImageView(palette="256")

    def on_mount(self) -> None:
        view = self.query_one(ImageView)
        view.set_image(self.live.image, caption="n02121808 · frame 0")
        view.set_layer(self.layer)
        view.set_overlays(self.badges)


@pytest.fixture
def taught_layer(base_network, tmp_path, teach_dataset):
    """The CAM of a fresh teach session's patch (seeded weights) on a real cat photo."""
    root, source = teach_dataset
    session = TeachSession(base_network, root)
    loop = LiveLoop(base_network, ImageFolderSource(next(source.glob("*.jpg"))))
    assert loop.run(threading.Event(), max_frames=1) == 1
    live = loop.latest
    answer = session.answer(live.features, live.result.top[0].tag)
    head = taught_head(
        TAUGHT.format(session.name), answer.outputs, session.trainer.published, answer.index
    )
    overlay = HeatmapOverlay(base_network)
    overlay.toggle()
    layer = overlay.layer_for(live, head)
    assert layer.heatmap.subject.source == "cats (taught)"
    full, narrow = layer.label(), layer.label(width=24)
    assert full.startswith("heat: cats (taught) → ") and "blue" in full and "red" in full
    assert len(narrow) + 2 <= 24 and layer.heatmap.subject.name[:8] in narrow
    return live, layer, overlay.overlays(layer)


def test_snapshot_teach_heatmap_overlay(snap_compare, taught_layer):
    assert snap_compare(TaughtHeatApp(*taught_layer), terminal_size=(80, 24))


@run_async
async def test_an_80_column_terminal_keeps_every_output_on_one_line(
    base_network, tmp_path, teach_dataset
):
    root, source = teach_dataset
    config = TeachConfig(base_network, root, str(source), out=str(tmp_path / "out"), interval=0.2)
    app = make_teach_app(config, palette="256")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.teach_screen
        await wait_for(pilot, lambda: screen.current is not None, "the first frame")
        await pilot.pause(0.6)  # a status refresh
        assert screen.has_class("-narrow")
        outputs = screen.query_one("#teach-outputs")
        assert outputs.size.height == len(screen.session.outputs)  # one line each: no wraps
        view = screen.query_one("#teach-view", ImageView)
        assert view.size.width >= 38  # the frame keeps about half the terminal
        rates = str(screen.query_one("#teach-rates").render())
        assert "decay" in rates and "(p)" in rates  # wrapped, not cut
