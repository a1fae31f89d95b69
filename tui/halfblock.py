"""Render RGB images as terminal cells with the upper-half-block character.

Each cell shows two vertical pixels: the glyph ``▀`` takes the top pixel as its foreground
colour and the bottom pixel as its background. Colours are reduced to a small palette and
adjacent cells with the same (fg, bg) pair are merged into one segment, so a frame costs far
fewer segments (and escape sequences over SSH) than one-per-cell rendering.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import cv2
import numpy as np
from rich.color import Color, ColorType
from rich.color_triplet import ColorTriplet
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

Palette = Literal["truecolor", "256", "16"]
PALETTES: tuple[Palette, ...] = ("truecolor", "256", "16")

BLOCK = "▀"

# xterm-256: a 6x6x6 colour cube at indices 16..231, then a 24-step grey ramp at 232..255.
CUBE_LEVELS = np.array([0, 95, 135, 175, 215, 255], dtype=np.int32)
GREY_LEVELS = np.arange(24, dtype=np.int32) * 10 + 8


def _xterm256_table() -> np.ndarray:
    table = np.zeros((256, 3), dtype=np.uint8)
    r, g, b = np.meshgrid(CUBE_LEVELS, CUBE_LEVELS, CUBE_LEVELS, indexing="ij")
    table[16:232] = np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)
    table[232:] = GREY_LEVELS[:, None]
    return table


XTERM256_RGB = _xterm256_table()
# The 16 standard colours as xterm draws them by default (themes vary; these are the usual).
STANDARD16_RGB = np.array(
    [
        (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0),
        (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
        (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0),
        (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
    ],
    dtype=np.int32,
)  # fmt: skip
"""RGB value of each xterm-256 index; rows 0..15 (terminal-themed) are left black, unused."""

# Per-channel nearest cube level: the cube is a separable grid, so this is the exact nearest.
_CUBE_INDEX = np.abs(np.arange(256)[:, None] - CUBE_LEVELS[None, :]).argmin(axis=1)
_CUBE_INDEX = _CUBE_INDEX.astype(np.int32)

# Segments (and their Styles) are reused across frames: building them dominates the cost, and a
# reused Style also keeps the ANSI string Textual caches on it. The bound keeps a long webcam
# session from growing the caches without limit.
_CACHE_LIMIT = 65536
_RUN_BITS = 12
_MAX_RUN = (1 << _RUN_BITS) - 1


def detect_palette(environ: Mapping[str, str] | None = None) -> Palette:
    """The palette the terminal can show, decided the way Textual (through Rich) decides it.

    ``TEXTUAL_COLOR_SYSTEM`` wins when set (textual-serve sets ``truecolor``); then
    ``COLORTERM=truecolor|24bit``; then the suffix of ``TERM`` (``xterm-256color`` → 256,
    ``*-16color`` → 16); any other terminal gets the 16 standard colours, as Rich gives it.
    """
    env = os.environ if environ is None else environ
    forced = env.get("TEXTUAL_COLOR_SYSTEM", "auto").strip().lower()
    if forced in _FORCED:
        return _FORCED[forced]
    if env.get("COLORTERM", "").strip().lower() in ("truecolor", "24bit"):
        return "truecolor"
    suffix = env.get("TERM", "").strip().lower().rpartition("-")[2]
    return "256" if suffix in ("256color", "kitty") else "16"


_FORCED: dict[str, Palette] = {
    "truecolor": "truecolor",
    "256": "256",
    "standard": "16",
    "windows": "16",
}


def palette_notice(palette: Palette) -> str | None:
    """What to tell the user when images are drawn with fewer than 24-bit colours."""
    if palette == "truecolor":
        return None
    hint = "set COLORTERM=truecolor if your terminal has 24-bit colour"
    if palette == "256":
        return f"Images use the 256-colour palette ({hint})."
    return f"Images use the 16 standard colours: TERM does not say 256color ({hint})."


def fit_size(img_h: int, img_w: int, cells_w: int, cells_h: int) -> tuple[int, int]:
    """Largest (cols, rows) of cells showing the image without distortion.

    A cell is about twice as tall as wide and holds two pixels stacked, so pixels are roughly
    square: the image is fitted into ``cells_w x 2*cells_h`` square pixels.
    """
    if img_h <= 0 or img_w <= 0 or cells_w <= 0 or cells_h <= 0:
        return 0, 0
    scale = min(cells_w / img_w, 2 * cells_h / img_h)
    cols = min(cells_w, max(1, round(img_w * scale)))
    rows = min(cells_h, max(1, round(img_h * scale / 2)))
    return cols, rows


def check_rgb(rgb: np.ndarray) -> None:
    """Raise ValueError unless ``rgb`` is an H x W x 3 uint8 array."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 numpy array, got {getattr(rgb, 'dtype', type(rgb))}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {rgb.shape}")


def resize_to_cells(rgb: np.ndarray, cols: int, rows: int) -> np.ndarray:
    """Resize to ``cols x 2*rows`` pixels; INTER_AREA averages instead of aliasing on shrink."""
    check_rgb(rgb)
    return cv2.resize(np.ascontiguousarray(rgb), (cols, 2 * rows), interpolation=cv2.INTER_AREA)


def quantize_truecolor(pixels: np.ndarray, bits: int = 5) -> np.ndarray:
    """Round each channel to ``bits`` bits, spread back over 0..255 so black and white survive."""
    levels = (1 << bits) - 1
    lut = (np.round(np.round(np.arange(256) * levels / 255) * 255 / levels)).astype(np.uint8)
    return lut[pixels]


def xterm256_index(pixels: np.ndarray) -> np.ndarray:
    """Nearest xterm-256 index (16..255) for every pixel of an ``... x 3`` uint8 array.

    The nearest cube colour is found per channel; the nearest grey is the ramp step closest to
    the pixel's mean. Whichever is closer in RGB wins, which is the exact nearest of the 240.
    """
    px = pixels.astype(np.int32)
    ci = _CUBE_INDEX[pixels]
    cube_rgb = CUBE_LEVELS[ci]
    cube_d = ((px - cube_rgb) ** 2).sum(axis=-1)
    cube_idx = 16 + 36 * ci[..., 0] + 6 * ci[..., 1] + ci[..., 2]

    grey_i = np.clip(np.rint((px.mean(axis=-1) - 8) / 10), 0, 23).astype(np.int32)
    grey_d = ((px - GREY_LEVELS[grey_i][..., None]) ** 2).sum(axis=-1)
    return np.where(grey_d < cube_d, 232 + grey_i, cube_idx).astype(np.uint8)


def standard16_index(pixels: np.ndarray) -> np.ndarray:
    """Nearest of the 16 standard colours (0..15) for every pixel of an ``... x 3`` array."""
    px = pixels.astype(np.int32)[..., None, :]
    return ((px - STANDARD16_RGB) ** 2).sum(axis=-1).argmin(axis=-1).astype(np.uint8)


class HalfblockRenderer:
    """Turns RGB frames into Textual strips, reusing Style objects across frames."""

    def __init__(self, palette: Palette | None = None, bits: int = 5) -> None:
        if palette is not None and palette not in PALETTES:
            raise ValueError(f"unknown palette {palette!r}; use one of {', '.join(PALETTES)}")
        if not 1 <= bits <= 8:
            raise ValueError(f"bits must be in 1..8, got {bits}")
        self.palette: Palette = palette or detect_palette()
        self.bits = bits
        self._colors: dict[int, Color] = {}
        self._styles: dict[int, Style] = {}
        self._segments: dict[int, Segment] = {}

    def fit(self, rgb: np.ndarray, cells_w: int, cells_h: int) -> np.ndarray:
        """Resize ``rgb`` to the largest aspect-correct pixel grid for the given cells."""
        check_rgb(rgb)
        cols, rows = fit_size(rgb.shape[0], rgb.shape[1], cells_w, cells_h)
        if cols == 0:
            return np.zeros((0, 0, 3), dtype=np.uint8)
        return resize_to_cells(rgb, cols, rows)

    def render(self, rgb: np.ndarray, cells_w: int, cells_h: int) -> list[Strip]:
        """Fit ``rgb`` into at most ``cells_w x cells_h`` cells and return one strip per row."""
        return self.strips(self.fit(rgb, cells_w, cells_h))

    def codes(self, pixels: np.ndarray) -> np.ndarray:
        """Palette code per pixel: a 256- or 16-colour index, or a packed quantised 0xRRGGBB."""
        if self.palette == "256":
            return xterm256_index(pixels).astype(np.int64)
        if self.palette == "16":
            return standard16_index(pixels).astype(np.int64)
        q = quantize_truecolor(pixels, self.bits).astype(np.int64)
        return (q[..., 0] << 16) | (q[..., 1] << 8) | q[..., 2]

    def strips(self, pixels: np.ndarray) -> list[Strip]:
        """Strips for an already-sized pixel grid (``2*rows x cols x 3``, even height)."""
        if pixels.size == 0:
            return []
        check_rgb(pixels)
        height, cols = pixels.shape[:2]
        if height % 2:
            raise ValueError(f"pixel height must be even (two pixels per cell), got {height}")
        if cols > _MAX_RUN:
            raise ValueError(f"at most {_MAX_RUN} columns are supported, got {cols}")
        rows = height // 2
        codes = self.codes(pixels)
        keys = (codes[0::2] << 24) | codes[1::2]

        # A run starts at every row start and wherever the (fg, bg) pair changes.
        starts = np.ones((rows, cols), dtype=bool)
        starts[:, 1:] = keys[:, 1:] != keys[:, :-1]
        run_row, run_col = np.nonzero(starts)
        flat = run_row * cols + run_col
        lengths = np.diff(flat, append=rows * cols)
        # (fg, bg, length) packed in one int64: 24 + 24 + 12 bits.
        run_ids = (keys.ravel()[flat] << _RUN_BITS) | lengths

        segments = self._segments
        if len(segments) > _CACHE_LIMIT:
            segments.clear()
            self._styles.clear()
            self._colors.clear()
        styles = self._styles
        for run_id in np.unique(run_ids).tolist():
            if run_id not in segments:
                key = run_id >> _RUN_BITS
                style = styles.get(key)
                if style is None:
                    style = Style.from_color(self._color(key >> 24), self._color(key & 0xFFFFFF))
                    styles[key] = style
                segments[run_id] = Segment(BLOCK * (run_id & _MAX_RUN), style)

        lookup = segments.__getitem__
        ids = run_ids.tolist()
        bounds = np.cumsum(np.bincount(run_row, minlength=rows)).tolist()
        return [
            Strip(list(map(lookup, ids[a:b])), cols)
            for a, b in zip([0, *bounds[:-1]], bounds, strict=True)
        ]

    def _color(self, code: int) -> Color:
        color = self._colors.get(code)
        if color is None:
            if self.palette in ("256", "16"):
                color = Color.from_ansi(code)
            else:
                triplet = ColorTriplet(code >> 16, (code >> 8) & 0xFF, code & 0xFF)
                color = Color(f"#{code:06x}", ColorType.TRUECOLOR, triplet=triplet)
            self._colors[code] = color
        return color
