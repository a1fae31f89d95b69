"""ImageView in a running app: layout, caching of built lines, overlays and an SVG snapshot."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from pilot_helpers import run_async
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip

from neuralpatch.tui.halfblock import BLOCK, fit_size
from neuralpatch.tui.image_view import ImageView, Overlay

CAPTION = "Chelsea the cat"


class ViewApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ImageView(placeholder="waiting for camera", palette="256")


def screen_lines(view: ImageView) -> list[Strip]:
    """The widget's lines as the compositor receives them (styles and gutters applied)."""
    return view.render_lines(Region(0, 0, *view.outer_size))


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return skimage.data.chelsea()


@run_async
async def test_shows_photo_centred_with_caption(chelsea: np.ndarray):
    app = ViewApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ImageView)
        view.set_image(chelsea, caption=CAPTION)
        await pilot.pause()
        lines = [strip.text for strip in screen_lines(view)]
        assert len(lines) == 24
        cols, rows = fit_size(*chelsea.shape[:2], 80, 23)
        image_lines = [line for line in lines if BLOCK in line]
        assert len(image_lines) == rows
        left = (80 - cols) // 2
        for line in image_lines:
            assert line == " " * left + BLOCK * cols + " " * (80 - left - cols)
        assert lines[-1].strip() == CAPTION
        assert BLOCK not in lines[-1]


@run_async
async def test_resize_rebuilds_to_the_new_size(chelsea: np.ndarray):
    app = ViewApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ImageView)
        view.set_image(chelsea, caption=CAPTION)
        await pilot.pause()
        builds = view.build_count
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert view.build_count == builds + 1
        cols, rows = fit_size(*chelsea.shape[:2], 120, 39)
        lines = [strip.text for strip in screen_lines(view)]
        assert len(lines) == 40
        assert [line.count(BLOCK) for line in lines if BLOCK in line] == [cols] * rows
        assert lines[-1].strip() == CAPTION


@run_async
async def test_unchanged_frames_and_repaints_do_not_rebuild(chelsea: np.ndarray):
    app = ViewApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ImageView)
        view.set_image(chelsea, caption=CAPTION)
        await pilot.pause()
        builds = view.build_count
        assert builds >= 1

        view.set_image(chelsea, caption=CAPTION)  # same array
        view.set_image(chelsea.copy(), caption=CAPTION)  # equal pixels, new buffer
        view.refresh()  # a plain repaint serves cached lines
        await pilot.pause()
        screen_lines(view)
        assert view.build_count == builds

        view.set_image(chelsea, caption="new caption")
        await pilot.pause()
        assert view.build_count == builds + 1

        view.set_image(np.ascontiguousarray(chelsea[:, ::-1]), caption="new caption")
        await pilot.pause()
        assert view.build_count == builds + 2


@run_async
async def test_caller_may_reuse_its_buffer(chelsea: np.ndarray):
    """A camera loop that overwrites one buffer in place still gets each frame shown."""
    app = ViewApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ImageView)
        buffer = chelsea.copy()
        view.set_image(buffer)
        await pilot.pause()
        before = [strip.text for strip in screen_lines(view)]
        builds = view.build_count
        buffer[:] = 255 - buffer
        view.set_image(buffer)
        await pilot.pause()
        assert view.build_count == builds + 1
        assert not np.array_equal(view.image, chelsea)
        assert [strip.text for strip in screen_lines(view)] == before  # same layout


@run_async
async def test_placeholder_when_no_image(chelsea: np.ndarray):
    app = ViewApp()
    async with app.run_test(size=(60, 12)) as pilot:
        view = app.query_one(ImageView)
        await pilot.pause()
        text = "\n".join(strip.text for strip in screen_lines(view))
        assert "waiting for camera" in text and BLOCK not in text

        view.set_image(chelsea)
        await pilot.pause()
        view.set_image(None, caption="camera lost")
        await pilot.pause()
        lines = [strip.text for strip in screen_lines(view)]
        assert BLOCK not in "".join(lines)
        assert "waiting for camera" in lines[5]
        assert lines[-1].strip() == "camera lost"


@run_async
async def test_overlay_icon_and_badge_are_drawn(chelsea: np.ndarray):
    app = ViewApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(ImageView)
        view.set_image(chelsea, caption=CAPTION)
        icon = np.zeros((8, 8, 3), dtype=np.uint8)
        icon[...] = (0, 0, 255)  # pure blue: xterm index 21, absent from the cat photo
        view.set_overlays([Overlay(icon=icon, label="trigger", corner="top-right")])
        await pilot.pause()
        cols, rows = fit_size(*chelsea.shape[:2], 80, 23)
        left = (80 - cols) // 2
        lines = screen_lines(view)
        assert lines[0].text.rstrip().endswith(" trigger")
        assert lines[0].text.index("trigger") > left + cols // 2  # right-hand side

        blue_cells = [
            (y, x)
            for y, strip in enumerate(lines)
            for x, segment_x, segment in _cells(strip)
            if segment.style.bgcolor is not None
            and segment.style.bgcolor.get_truecolor() == (0, 0, 255)
        ]
        ys = {y for y, _ in blue_cells}
        xs = {x for _, x in blue_cells}
        # 8 icon pixel rows below the badge row are 4 cells, 8 pixel columns are 8 cells.
        assert ys == {2, 3, 4, 5}
        assert xs == set(range(left + cols - 1 - 8, left + cols - 1))

        view.set_overlays([])
        await pilot.pause()
        assert "trigger" not in screen_lines(view)[0].text


@run_async
async def test_a_long_left_badge_stops_short_of_the_right_badges(chelsea: np.ndarray):
    """The heat-map's badge (left) never covers the names of the patches that ran (right)."""
    app = ViewApp()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(ImageView)
        view.set_image(chelsea, caption=CAPTION)
        heat = Overlay(label="heat-map: " + "felix cats tabby " * 6, corner="top-left")
        view.set_overlays([heat, Overlay(label="felix cats"), Overlay(label="dogs")])
        await pilot.pause()
        cols, _ = fit_size(*chelsea.shape[:2], 60, 19)
        left = (60 - cols) // 2
        top = screen_lines(view)[0].text[left : left + cols]
        assert top.endswith(" felix cats   dogs ")
        assert top.startswith(" heat-map: felix") and "…" in top
        assert top.index("…") < top.index(" felix cats   dogs ")


def _cells(strip: Strip):
    x = 0
    for segment in strip:
        for offset in range(len(segment.text)):
            yield x + offset, x, segment
        x += len(segment.text)


def test_overlay_rejects_unknown_corner():
    with pytest.raises(ValueError, match="corner"):
        Overlay(label="x", corner="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="icon"):
        Overlay(icon=np.zeros((4, 4), dtype=np.uint8))


def test_snapshot_chelsea(snap_compare):
    assert snap_compare("apps/image_view_app.py", terminal_size=(80, 24))
