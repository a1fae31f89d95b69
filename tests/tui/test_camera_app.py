"""The live testing screen driven with Pilot: real video, real trained patch; a missing or lost
source, a patch folder that changes underneath, hostile names escaped on screen."""

from __future__ import annotations

import shutil

import numpy as np
from pilot_helpers import camera_app, recorded_notifications, run_async, wait_for, wait_for_screen
from textual.widgets import Label, OptionList

from neuralpatch.tui.camera_patches import PatchPanel
from neuralpatch.tui.image_view import ImageView
from neuralpatch.tui.snap_dialog import SnapDialog

SIZE = (100, 30)


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
        await wait_for_screen(pilot, SnapDialog)  # composed: its option list is there
        dialog = app.screen
        categories = dialog.query_one("#snap-categories", OptionList)
        await wait_for(pilot, lambda: categories.option_count, "the dataset's categories")
        await pilot.pause(0.2)
        snap = "".join(strip.text for strip in app.screen._compositor.render_strips())
    for text in (shown, snap):
        assert [c for c in text if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F] == []
    assert "cats\\x1b]0;pwned" in shown  # the name is on screen, escaped
    assert "bad\\x1b" in shown  # so is the rejected file's name
    assert "domestic_cat\\x1b]0;pwned" in snap and "felix\\x1b" in snap
