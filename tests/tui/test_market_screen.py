"""The market screen driven with Pilot from the live camera screen: a real served catalogue,
a real trained patch installed with a key and hot-reloaded into the running camera.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from market_helpers import icon_png, train_patch
from pilot_helpers import run_async, wait_for
from textual.app import App
from textual.widgets import Static

from neuralpatch.engine.camera_config import CameraConfig
from neuralpatch.engine.market_config import CatalogueSource, add_source, read_sources
from neuralpatch.engine.market_publish import publish
from neuralpatch.engine.market_server import serve_catalogue
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.tui.camera_app import make_camera_app
from neuralpatch.tui.camera_screen import CameraScreen
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.market_entry_view import icon_rgb
from neuralpatch.tui.market_screen import MarketScreen

SIZE = (110, 34)


@pytest.fixture(scope="module")
def trained(base_network, sample_data, tmp_path_factory) -> Path:
    return train_patch(base_network, sample_data, tmp_path_factory.mktemp("trained"))


@pytest.fixture
def served(trained, tmp_path, monkeypatch):
    """A catalogue with the trained patch, served on a free port and in the market config."""
    monkeypatch.setenv("NEURALPATCH_CONFIG_DIR", str(tmp_path / "config"))
    publish([trained], tmp_path / "catalogue")
    with serve_catalogue(tmp_path / "catalogue", port=0, background=True) as server:
        add_source(server.url)
        yield server


def test_icons_are_drawn_over_the_panel_background():
    rgb = icon_rgb(icon_png((230, 120, 20)))
    assert rgb.shape == (16, 16, 3)
    assert tuple(rgb[8, 8]) == (230, 120, 20) and tuple(rgb[0, 0]) == (24, 24, 32)


@run_async
async def test_market_key_installs_into_the_running_camera(
    base_network, cat_video, served, trained, tmp_path
):
    patches = tmp_path / "patches"
    patches.mkdir()
    config = CameraConfig(base=base_network, source=str(cat_video), patches=str(patches))
    app = make_camera_app(config, palette="256")
    async with app.run_test(size=SIZE) as pilot:
        camera = app.camera_screen
        await wait_for(pilot, lambda: camera.current is not None, "the first frame")
        assert camera.current.result.patches == []
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MarketScreen), "the market")
        market = app.screen
        await wait_for(pilot, lambda: market.statuses, "the catalogue")
        icon = market.query_one("#market-icon", ImageView)
        await wait_for(pilot, lambda: icon.image is not None, "the icon")
        info = str(market.query_one("#market-info", Static).content)
        assert "felix cats  version 1" in info and "fits the running base network" in info
        assert "tabby" in info and "domestic_cat" in info
        await pilot.press("i")
        await wait_for(pilot, lambda: market.installed, "the install")
        installed = patches / "felix_cats.specialneurons"
        assert installed.read_bytes() == trained.read_bytes()
        assert market.statuses[0].installed_entry is not None  # now listed as installed
        await pilot.press("escape")
        assert isinstance(app.screen, CameraScreen)
        await wait_for(
            pilot,
            lambda: (
                camera.current is not None
                and [r.name for r in camera.current.result.patches] == ["felix cats"]
            ),
            "the hot-reloaded patch to fire",
        )
    assert [s.url for s in read_sources()] == [served.url]


class Host(App[None]):
    """The market screen alone, as another app would open it."""

    CSS_PATH = Path(__file__).resolve().parents[2] / "tui" / "neuralpatch.tcss"

    def __init__(self, screen: MarketScreen) -> None:
        super().__init__()
        self.market = screen

    def on_mount(self) -> None:
        self.push_screen(self.market)


@run_async
async def test_a_bad_catalogue_is_an_error_and_c_goes_to_the_next(
    base_network, trained, tmp_path, monkeypatch
):
    monkeypatch.setenv("NEURALPATCH_CONFIG_DIR", str(tmp_path / "config"))
    publish([trained], tmp_path / "good")
    sources = [CatalogueSource(str(tmp_path / "nowhere")), CatalogueSource(str(tmp_path / "good"))]
    app = Host(MarketScreen(None, PatchSystem.for_base(base_network), "256", sources))
    async with app.run_test(size=SIZE) as pilot:
        market = app.market
        status = market.query_one("#market-status")
        await wait_for(pilot, lambda: "no index.json here" in str(status.content), "the error")
        assert market.statuses == [] and app.screen is market
        market.query_one("#market-entries").focus()
        await pilot.press("c")
        await wait_for(pilot, lambda: market.statuses, "the second catalogue")
        await pilot.press("i")  # no patch folder: a warning, nothing installed
        await pilot.pause()
        assert market.installed == []
    assert [s.url for s in read_sources()] == [str(tmp_path / "good")]  # only what loaded


@run_async
async def test_publish_this_patch_after_saving_in_the_training_app(train_app, tmp_path, out_dir):
    from pilot_helpers import wait_for_screen

    from neuralpatch.engine.catalogue import read_catalogue_dir
    from neuralpatch.tui.dialogs import ReconfigureDialog
    from neuralpatch.tui.publish_dialog import PublishDialog

    icon = tmp_path / "icon.png"
    icon.write_bytes(icon_png())
    app = train_app("--steps", "20", "--description", "cats by kind", "--icon", str(icon))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.train_screen
        assert screen.check_action("publish", ()) is False  # nothing saved yet: not offered
        await pilot.press("ctrl+p")
        assert not isinstance(app.screen, PublishDialog)
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, ReconfigureDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.phase == "paused", "the 20 steps")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.saved, "the save")
        await pilot.press("ctrl+p")
        await wait_for_screen(pilot, PublishDialog)
        app.screen.query_one("#publish-to").value = str(tmp_path / "catalogue")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, PublishDialog), "the publish")
    (entry,) = read_catalogue_dir(tmp_path / "catalogue").entries
    saved = screen.saved[-1].patch
    assert entry.description == "cats by kind"
    assert (tmp_path / "catalogue" / entry.file).read_bytes() == saved.read_bytes()


@run_async
async def test_market_browse_on_its_own_installs_and_leaves_with_escape(
    base_network, trained, tmp_path, monkeypatch
):
    from neuralpatch.tui.market_app import make_market_app

    monkeypatch.setenv("NEURALPATCH_CONFIG_DIR", str(tmp_path / "config"))
    publish([trained], tmp_path / "catalogue")
    patches = tmp_path / "patches"
    source = CatalogueSource(str(tmp_path / "catalogue"))
    app = make_market_app(base_network, str(patches), source, palette="256")
    async with app.run_test(size=SIZE) as pilot:
        market = app.market_screen
        await wait_for(pilot, lambda: market.statuses, "the catalogue")
        await pilot.press("enter")  # Enter on an entry installs it too
        await wait_for(pilot, lambda: market.installed, "the install")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.return_code is not None, "the app to end")
    assert app.return_code == 0
    assert (patches / "felix_cats.specialneurons").read_bytes() == trained.read_bytes()
    assert [s.url for s in read_sources()] == [source.url]  # a catalogue that loaded is kept


def test_browse_needs_a_terminal(capsys, monkeypatch):
    from neuralpatch.main import main

    monkeypatch.delenv("TEXTUAL_DRIVER", raising=False)
    assert main(["market", "browse", "somewhere"]) == 2
    assert "needs a terminal" in capsys.readouterr().err


def test_snapshot_market_screen(snap_compare, base_network, trained, tmp_path, monkeypatch):
    """A catalogue with fixed times, read from a relative path so nothing varies per run."""
    import json

    monkeypatch.setenv("NEURALPATCH_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    publish([trained], "catalogue")
    index = tmp_path / "catalogue" / "index.json"
    doc = json.loads(index.read_text())
    doc["entries"][0] |= {"published": "2026-12-01T10:00:00+00:00"}
    index.write_text(json.dumps(doc))
    screen = MarketScreen(
        None, PatchSystem.for_base(base_network), "256", [CatalogueSource("catalogue")]
    )

    async def loaded(pilot) -> None:
        market = pilot.app.market
        market.query_one("#market-source").cursor_blink = False
        await wait_for(pilot, lambda: market.query_one("#market-icon", ImageView).image is not None)
        await pilot.pause()

    assert snap_compare(Host(screen), terminal_size=SIZE, run_before=loaded)
