"""Heat-maps as pictures: the photo with the map blended over it, a colour bar, a gallery sheet.

The colour scale runs from the map's lowest to its highest cell (turbo: blue → red), so the
hottest spot is always red and the bar says what the colours are worth. Only the box the base
pass saw is tinted; the rest of the photo is dimmed, as the network never saw it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.heatmap import Heatmap

COLORMAP = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_TURBO)[
    :, 0, ::-1
].copy()
"""(256, 3) RGB: the turbo colour of each level, low (blue) to high (red)."""
ALPHA = 0.5  # weight of the map's colour over the photo
OUTSIDE_DIM = 0.45  # brightness kept outside the box the network saw
MAX_SIDE = 1024  # PNGs of big photos are shrunk to this
BAR_WIDTH = 18
FONT_SIZE = 14


def value_range(grid: np.ndarray) -> tuple[float, float]:
    """The colour scale: lowest to highest cell (a flat map gets a unit-wide scale)."""
    lo, hi = float(np.min(grid)), float(np.max(grid))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def colorize(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Float values → RGB uint8 via the colour map, `lo` blue and `hi` red."""
    gain = 255.0 / (hi - lo)
    levels = cv2.convertScaleAbs(np.asarray(values, np.float32), alpha=gain, beta=-lo * gain)
    return COLORMAP[levels.reshape(np.shape(values))]


def blend_over(photo: np.ndarray, heatmap: Heatmap, scale: float = 1.0) -> np.ndarray:
    """A copy of `photo` with the map over its box; `scale` = photo pixels per original pixel.

    uint8 OpenCV arithmetic throughout: the camera overlay runs this on every frame.
    """
    picture = cv2.convertScaleAbs(photo, alpha=OUTSIDE_DIM)
    x0, y0, x1, y1 = (round(v * scale) for v in heatmap.box)
    x1, y1 = min(max(x1, x0 + 1), photo.shape[1]), min(max(y1, y0 + 1), photo.shape[0])
    tint = colorize(heatmap.upsample(y1 - y0, x1 - x0), *value_range(heatmap.grid))
    region = np.ascontiguousarray(photo[y0:y1, x0:x1])
    picture[y0:y1, x0:x1] = cv2.addWeighted(region, 1 - ALPHA, tint, ALPHA, 0)
    px, py = (round(v * scale) for v in heatmap.peak())
    arm = max(2, round(min(x1 - x0, y1 - y0) / 30))
    if arm > 3:  # a photo-sized picture: a white cross with a black core
        cv2.drawMarker(picture, (px, py), (255, 255, 255), cv2.MARKER_CROSS, 2 * arm, 2)
        cv2.drawMarker(picture, (px, py), (0, 0, 0), cv2.MARKER_CROSS, 2 * arm, 1)
    else:  # a few terminal cells: one thin white cross
        cv2.drawMarker(picture, (px, py), (255, 255, 255), cv2.MARKER_CROSS, 2 * arm, 1)
    return picture


def shrink(photo: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The photo at most `max_side` pixels on its long side, and the factor applied."""
    side = max(photo.shape[:2])
    if side <= max_side:
        return photo, 1.0
    scale = max_side / side
    size = (max(1, round(photo.shape[1] * scale)), max(1, round(photo.shape[0] * scale)))
    return cv2.resize(np.ascontiguousarray(photo), size, interpolation=cv2.INTER_AREA), scale


def _font(size: int = FONT_SIZE) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size)


def heatmap_picture(photo: np.ndarray, heatmap: Heatmap, title: str = "") -> np.ndarray:
    """The blended photo with a title line above and a labelled colour bar on the right."""
    small, scale = shrink(photo, MAX_SIDE)
    blended = blend_over(small, heatmap, scale)
    font = _font()
    h, w = blended.shape[:2]
    title_h = FONT_SIZE + 8 if title else 0
    label_w = 8 * 7  # room for "-12.34"
    sheet = Image.new("RGB", (w + BAR_WIDTH + label_w + 12, h + title_h), (24, 24, 24))
    sheet.paste(Image.fromarray(blended), (0, title_h))
    lo, hi = value_range(heatmap.grid)
    bar = colorize(np.linspace(hi, lo, h, dtype=np.float32)[:, None], lo, hi)
    bar = np.repeat(bar, BAR_WIDTH, axis=1)
    sheet.paste(Image.fromarray(bar), (w + 6, title_h))
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((4, 3), title, fill=(235, 235, 235), font=font)
    x = w + BAR_WIDTH + 9
    draw.text((x, title_h), f"{hi:.2f}", fill=(235, 235, 235), font=font)
    draw.text((x, title_h + h - FONT_SIZE - 2), f"{lo:.2f}", fill=(235, 235, 235), font=font)
    return np.asarray(sheet)


def png_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def write_heatmap_png(path: str | Path, photo: np.ndarray, heatmap: Heatmap, title: str) -> Path:
    """The picture of `heatmap_picture`, written atomically as a PNG."""
    return write_atomic(path, png_bytes(heatmap_picture(photo, heatmap, title)))


@dataclass(frozen=True)
class GalleryTile:
    """One photo of a gallery, its map already blended in (`tile_picture`), two captions."""

    picture: np.ndarray
    caption: str
    detail: str = ""


def tile_picture(photo: np.ndarray, heatmap: Heatmap, side: int = 220) -> np.ndarray:
    """The photo shrunk to fit `side` with its map blended over it (small enough to keep)."""
    small, scale = shrink(photo, side)
    return blend_over(small, heatmap, scale)


def gallery_sheet(tiles: Sequence[GalleryTile], title: str, tile_side: int = 220) -> np.ndarray:
    """A contact sheet: each photo with its map blended over it, captions under, in a grid."""
    font = _font(12)
    columns = max(1, min(4, len(tiles)))
    rows = max(1, -(-len(tiles) // columns))
    caption_h, header_h, gap = 34, 28, 8
    width = max(columns * (tile_side + gap) + gap, round(_font().getlength(title)) + 2 * gap)
    height = header_h + rows * (tile_side + caption_h + gap) + gap
    sheet = Image.new("RGB", (width, height), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    draw.text((gap, 7), title, fill=(235, 235, 235), font=_font())
    for n, tile in enumerate(tiles):
        picture = tile.picture[:tile_side, :tile_side]
        row, col = divmod(n, columns)
        x = gap + col * (tile_side + gap)
        y = header_h + row * (tile_side + caption_h + gap)
        ox, oy = (tile_side - picture.shape[1]) // 2, (tile_side - picture.shape[0]) // 2
        sheet.paste(Image.fromarray(picture), (x + ox, y + oy))
        for line, (text, colour) in enumerate([(tile.caption, 235), (tile.detail, 170)]):
            fitted = _fit(text, font, tile_side)
            draw.text((x, y + tile_side + 2 + 15 * line), fitted, fill=(colour,) * 3, font=font)
    return np.asarray(sheet)


def _fit(text: str, font, width: int) -> str:
    """`text` cut with an ellipsis to fit `width` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"
