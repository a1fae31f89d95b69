"""Half-block rendering on real photos: geometry, palettes, run merging and colour fidelity."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from rich._palettes import EIGHT_BIT_PALETTE
from textual.strip import Strip

from neuralpatch.tui.halfblock import (
    BLOCK,
    XTERM256_RGB,
    HalfblockRenderer,
    detect_palette,
    fit_size,
    palette_notice,
    quantize_truecolor,
    standard16_index,
    xterm256_index,
)

PALETTES = ("truecolor", "256")


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return skimage.data.chelsea()


def decode(strips: list[Strip]) -> np.ndarray:
    """Pixels back from the strips' segment colours: what a terminal would show."""
    rows = []
    for strip in strips:
        top: list[tuple[int, int, int]] = []
        bottom: list[tuple[int, int, int]] = []
        for segment in strip:
            assert set(segment.text) == {BLOCK}
            fg = tuple(segment.style.color.get_truecolor())
            bg = tuple(segment.style.bgcolor.get_truecolor(foreground=False))
            top += [fg] * len(segment.text)
            bottom += [bg] * len(segment.text)
        rows += [top, bottom]
    return np.array(rows, dtype=np.uint8)


@pytest.mark.parametrize(
    ("img_h", "img_w", "cells_w", "cells_h"),
    [
        (300, 451, 80, 30),
        (300, 451, 160, 50),
        (512, 512, 80, 24),
        (480, 640, 40, 40),
        (10, 400, 80, 30),
    ],
)
def test_fit_size_keeps_aspect_within_bounds(img_h: int, img_w: int, cells_w: int, cells_h: int):
    cols, rows = fit_size(img_h, img_w, cells_w, cells_h)
    assert 1 <= cols <= cells_w and 1 <= rows <= cells_h
    assert cols == cells_w or rows == cells_h, "one axis should be filled"
    # Pixels are square: cols x 2*rows pixels must have the image's aspect, up to rounding.
    assert cols / (2 * rows) == pytest.approx(img_w / img_h, rel=0.06, abs=1 / rows)


def test_fit_size_of_nothing_is_empty():
    assert fit_size(0, 100, 80, 24) == (0, 0)
    assert fit_size(100, 100, 0, 24) == (0, 0)


@pytest.mark.parametrize("palette", PALETTES)
@pytest.mark.parametrize(("cells_w", "cells_h"), [(80, 30), (160, 50)])
def test_strips_match_target_cells(chelsea: np.ndarray, palette: str, cells_w: int, cells_h: int):
    cols, rows = fit_size(*chelsea.shape[:2], cells_w, cells_h)
    strips = HalfblockRenderer(palette).render(chelsea, cells_w, cells_h)
    assert len(strips) == rows
    for strip in strips:
        assert strip.cell_length == cols
        assert sum(len(segment.text) for segment in strip) == cols
        assert strip.text == BLOCK * cols


@pytest.mark.parametrize(("palette", "max_ratio"), [("truecolor", 0.98), ("256", 0.75)])
def test_run_merging_needs_fewer_segments_than_cells(
    chelsea: np.ndarray, palette: str, max_ratio: float
):
    strips = HalfblockRenderer(palette).render(chelsea, 80, 30)
    cells = sum(strip.cell_length for strip in strips)
    segments = sum(len(strip) for strip in strips)
    assert segments <= max_ratio * cells


def test_adjacent_segments_never_share_colours(chelsea: np.ndarray):
    """Merging is complete: two neighbouring runs in a row always differ in (fg, bg)."""
    for strip in HalfblockRenderer("256").render(chelsea, 80, 30):
        styles = [segment.style for segment in strip]
        assert all(a != b for a, b in zip(styles, styles[1:], strict=False))


def test_xterm_table_matches_rich():
    for index in range(16, 256):
        assert tuple(XTERM256_RGB[index]) == tuple(EIGHT_BIT_PALETTE[index])


@pytest.mark.parametrize(
    ("rgb", "index"),
    [
        ((0, 0, 0), 16),
        ((255, 255, 255), 231),
        ((255, 0, 0), 196),
        ((0, 255, 0), 46),
        ((0, 0, 255), 21),
        ((255, 255, 0), 226),
        ((0, 255, 255), 51),
        ((255, 0, 255), 201),
        ((95, 135, 175), 16 + 36 * 1 + 6 * 2 + 3),
        ((128, 128, 128), 244),  # the grey ramp (8 + 10*12) beats the cube's 135
        ((18, 18, 18), 233),
    ],
)
def test_xterm256_maps_pure_colours(rgb: tuple[int, int, int], index: int):
    assert xterm256_index(np.array([[rgb]], dtype=np.uint8))[0, 0] == index


def test_xterm256_is_the_exact_nearest_palette_colour():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    got = xterm256_index(pixels)
    assert got.min() >= 16 and got.max() <= 255
    palette = XTERM256_RGB[16:].astype(np.int32)
    dist = ((pixels.reshape(-1, 1, 3).astype(np.int32) - palette[None]) ** 2).sum(-1)
    best = dist.min(axis=1)
    chosen = dist[np.arange(len(dist)), got.ravel().astype(np.int64) - 16]
    np.testing.assert_array_equal(chosen, best)


def test_quantize_truecolor_keeps_extremes_and_levels():
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 256, 1).repeat(3, axis=2)
    q = quantize_truecolor(ramp, bits=5)
    assert q[0, 0, 0] == 0 and q[0, -1, 0] == 255
    assert len(np.unique(q)) == 32
    assert np.abs(q.astype(int) - ramp.astype(int)).max() <= 5


# Worst case per channel is half a palette step: 255/31/2 for 5-bit, 95/2 for the xterm cube.
@pytest.mark.parametrize(
    ("palette", "max_mean", "max_abs"), [("truecolor", 2.5, 4), ("256", 14.0, 48)]
)
def test_roundtrip_approximates_downscaled_photo(
    chelsea: np.ndarray, palette: str, max_mean: float, max_abs: int
):
    renderer = HalfblockRenderer(palette)
    pixels = renderer.fit(chelsea, 80, 30)
    shown = decode(renderer.strips(pixels))
    assert shown.shape == pixels.shape
    error = np.abs(shown.astype(int) - pixels.astype(int))
    assert error.mean() <= max_mean
    assert error.max() <= max_abs


def test_caches_are_reused_across_frames(chelsea: np.ndarray):
    renderer = HalfblockRenderer("truecolor")
    first = renderer.render(chelsea, 80, 30)
    second = renderer.render(chelsea, 80, 30)
    assert first[5]._segments[0] is second[5]._segments[0]
    assert first[5]._segments[0].style is second[5]._segments[0].style


def test_detect_palette_follows_textual_and_rich():
    assert detect_palette({"COLORTERM": "truecolor"}) == "truecolor"
    assert detect_palette({"COLORTERM": "24bit", "TERM": "xterm"}) == "truecolor"
    assert detect_palette({"TERM": "xterm-256color"}) == "256"
    assert detect_palette({"TERM": "tmux-256color"}) == "256"
    assert detect_palette({"TERM": "xterm-16color"}) == "16"
    assert detect_palette({"TERM": "vt100"}) == "16"
    assert detect_palette({}) == "16"
    # textual-serve forces its colour system for the browser terminal
    assert detect_palette({"TEXTUAL_COLOR_SYSTEM": "truecolor", "TERM": "dumb"}) == "truecolor"
    assert detect_palette({"TEXTUAL_COLOR_SYSTEM": "standard", "COLORTERM": "24bit"}) == "16"
    assert HalfblockRenderer("256").palette == "256"


def test_palette_notice_says_when_colours_fall_back():
    assert palette_notice("truecolor") is None
    assert "256-colour" in palette_notice("256")
    assert "16 standard colours" in palette_notice("16")


def test_sixteen_colour_palette_picks_the_nearest_standard_colour():
    pixels = np.array([[[250, 10, 10], [10, 10, 10], [250, 250, 250], [0, 200, 190]]], np.uint8)
    assert standard16_index(pixels).tolist() == [[9, 0, 15, 6]]
    strips = HalfblockRenderer("16").render(skimage.data.chelsea(), 40, 12)
    colors = {seg.style.color.number for strip in strips for seg in strip._segments}
    assert colors and all(0 <= c <= 15 for c in colors)


def test_rejects_bad_input():
    renderer = HalfblockRenderer("256")
    with pytest.raises(ValueError, match="uint8"):
        renderer.render(np.zeros((10, 10, 3), dtype=np.float32), 10, 10)
    with pytest.raises(ValueError, match="RGB"):
        renderer.render(np.zeros((10, 10), dtype=np.uint8), 10, 10)
    with pytest.raises(ValueError, match="even"):
        renderer.strips(np.zeros((3, 4, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="palette"):
        HalfblockRenderer("8")  # type: ignore[arg-type]
