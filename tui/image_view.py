"""A widget that shows an RGB image fitted to its size, drawn with half-block cells."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, get_args

import cv2
import numpy as np
from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from neuralpatch.tui.halfblock import HalfblockRenderer, Palette, check_rgb

Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]
CORNERS: tuple[str, ...] = get_args(Corner)

# Icons keep their pixel size but never cover more than this fraction of the image per axis.
ICON_MAX_FRACTION = 1 / 3
# Gap between an icon and the image edge: one cell each way (a cell is 1 x 2 pixels).
_MARGIN_X = 1
_MARGIN_Y = 2


@dataclass(eq=False)
class Overlay:
    """Something drawn over the image: a small RGB/RGBA icon, a text badge, or both."""

    icon: np.ndarray | None = None
    label: str = ""
    corner: Corner = "top-right"

    def __post_init__(self) -> None:
        if self.corner not in CORNERS:
            raise ValueError(f"unknown corner {self.corner!r}; use one of {', '.join(CORNERS)}")
        icon = self.icon
        if icon is not None and (
            icon.dtype != np.uint8 or icon.ndim != 3 or icon.shape[2] not in (3, 4)
        ):
            raise ValueError(f"icon must be an H x W x 3|4 uint8 array, got {icon.shape}")


class PixelLayer(Protocol):
    """Something painted into the fitted pixels before icons and badges (a heat-map)."""

    def blend(self, pixels: np.ndarray) -> np.ndarray: ...


def composite_icons(pixels: np.ndarray, overlays: list[Overlay], top_margin: int = 0) -> None:
    """Alpha-blend overlay icons into ``pixels`` in place, stacked per corner.

    Icons start on even pixel rows so each fills whole cells instead of sharing one with the
    photo. ``top_margin`` pixel rows stay free at the top, clear of the badge row.
    """
    height, width = pixels.shape[:2]
    used = dict.fromkeys(CORNERS, 0)  # pixel rows already taken from each corner's edge
    for overlay in overlays:
        if overlay.icon is None:
            continue
        icon = _shrink_to_fit(
            overlay.icon, int(height * ICON_MAX_FRACTION), int(width * ICON_MAX_FRACTION)
        )
        if icon is None:
            continue
        ih, iw = icon.shape[:2]
        corner = overlay.corner
        offset = used[corner] + _MARGIN_Y
        if corner.startswith("top"):
            y = top_margin + offset
        else:
            y = height - offset - ih
            y -= y % 2
        x = _MARGIN_X if corner.endswith("left") else width - _MARGIN_X - iw
        if y < 0 or y + ih > height or x < 0:
            continue  # the corner is full; better to drop an icon than to draw it off-image
        used[corner] = offset + ih + ih % 2
        region = pixels[y : y + ih, x : x + iw]
        if icon.shape[2] == 4:
            alpha = icon[..., 3:4].astype(np.float32) / 255.0
            blended = icon[..., :3] * alpha + region * (1.0 - alpha)
            region[:] = np.rint(blended).astype(np.uint8)
        else:
            region[:] = icon


def _shrink_to_fit(icon: np.ndarray, max_h: int, max_w: int) -> np.ndarray | None:
    if max_h < 1 or max_w < 1:
        return None
    ih, iw = icon.shape[:2]
    scale = min(1.0, max_h / ih, max_w / iw)
    if scale == 1.0:
        return icon
    size = (max(1, int(iw * scale)), max(1, int(ih * scale)))
    return cv2.resize(np.ascontiguousarray(icon), size, interpolation=cv2.INTER_AREA)


class ImageView(Widget):
    """Shows an RGB image centred and fitted to the widget, with a caption on the last line.

    Lines are built once per change of image, caption, overlays, size or style and then served
    from a cache by ``render_line``, so repaints (and duplicate frames) cost nothing. Call the
    setters from the app thread; workers should post a message or use ``call_from_thread``.
    """

    COMPONENT_CLASSES = {"image-view--caption", "image-view--badge", "image-view--placeholder"}

    DEFAULT_CSS = """
    ImageView {
        height: 1fr;
        width: 1fr;
    }
    ImageView > .image-view--caption {
        color: $text-muted;
        text-style: bold;
    }
    ImageView > .image-view--badge {
        background: $accent;
        color: $text;
        text-style: bold;
    }
    ImageView > .image-view--placeholder {
        color: $text-disabled;
        text-style: italic;
    }
    """

    def __init__(
        self,
        placeholder: str = "No image",
        *,
        palette: Palette | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.placeholder = placeholder
        self._renderer = HalfblockRenderer(palette)
        self._image: np.ndarray | None = None
        self._caption = ""
        self._overlays: list[Overlay] = []
        self._layer: PixelLayer | None = None
        self._lines: list[Strip] = []
        self._lines_size: tuple[int, int] | None = None
        self._dirty = True
        self.build_count = 0
        """How many times the lines were rebuilt; lets tests and benchmarks see caching work."""

    @property
    def image(self) -> np.ndarray | None:
        """The image currently shown (a private copy)."""
        return self._image

    @property
    def caption(self) -> str:
        """The text on the last line; empty means the image gets that line too."""
        return self._caption

    def set_image(self, rgb: np.ndarray | None, caption: str = "") -> None:
        """Show ``rgb`` (H x W x 3 uint8), or the placeholder for None.

        The array is copied, so callers may reuse their buffer. A frame equal to the one shown,
        with the same caption, is ignored: a stalled camera does not cost a rebuild.
        """
        if rgb is not None:
            check_rgb(rgb)
        if caption == self._caption and _same_image(rgb, self._image):
            return
        self._image = None if rgb is None else rgb.copy()
        self._caption = caption
        self._invalidate()

    def set_overlays(self, overlays: list[Overlay]) -> None:
        """Replace the overlays drawn over the image."""
        if len(overlays) == len(self._overlays) and all(
            new is old for new, old in zip(overlays, self._overlays, strict=True)
        ):
            return
        self._overlays = list(overlays)
        self._invalidate()

    def set_layer(self, layer: PixelLayer | None) -> None:
        """Paint `layer` into the image's pixels (None: the plain image)."""
        if layer is self._layer:
            return
        self._layer = layer
        self._invalidate()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._dirty = True  # caption, badge and background styles may have changed

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._dirty or self._lines_size != (width, height):
            self._lines = self._build_lines(width, height)
            self._lines_size = (width, height)
            self._dirty = False
            self.build_count += 1
        if 0 <= y < len(self._lines):
            return self._lines[y]
        return Strip.blank(width, self.rich_style)

    def _invalidate(self) -> None:
        self._dirty = True
        self.refresh()

    def _build_lines(self, width: int, height: int) -> list[Strip]:
        if width <= 0 or height <= 0:
            return []
        base = self.rich_style
        blank = Strip.blank(width, base)
        caption_rows = 1 if self._caption and height > 1 else 0
        body_height = height - caption_rows
        lines = [blank] * body_height

        if self._image is None:
            style = self.get_component_rich_style("image-view--placeholder")
            text = _text_strip(self.placeholder, width, style, base)
            lines[body_height // 2] = text
        else:
            self._draw_image(lines, width, body_height, base)

        if caption_rows:
            style = self.get_component_rich_style("image-view--caption")
            lines.append(_text_strip(self._caption, width, style, base))
        return lines

    def _draw_image(self, lines: list[Strip], width: int, height: int, base: Style) -> None:
        assert self._image is not None
        pixels = self._renderer.fit(self._image, width, height)
        if pixels.size == 0:
            return
        if self._layer is not None:
            pixels = self._layer.blend(pixels)
        labels = [o for o in self._overlays if o.label]
        if any(o.icon is not None for o in self._overlays):
            composite_icons(pixels, self._overlays, top_margin=2 if labels else 0)
        strips = self._renderer.strips(pixels)
        cols = pixels.shape[1]
        left = (width - cols) // 2
        top = (height - len(strips)) // 2
        left_pad = Strip.blank(left, base)
        right_pad = Strip.blank(width - left - cols, base)
        for row, strip in enumerate(strips):
            lines[top + row] = Strip.join([left_pad, strip, right_pad])
        if labels:
            badge_style = self.get_component_rich_style("image-view--badge")
            lines[top] = _badge_row(lines[top], labels, left, cols, badge_style)


def _same_image(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and np.array_equal(a, b)


def _text_strip(text: str, width: int, style: Style, base: Style) -> Strip:
    """One line of ``text`` centred in ``width`` cells, truncated with an ellipsis if needed."""
    if cell_len(text) > width:
        text = set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    used = cell_len(text)
    left = (width - used) // 2
    parts = [Strip.blank(left, base), Strip([Segment(text, style)], used)]
    return Strip.join([*parts, Strip.blank(width - left - used, base)])


def _badge_row(line: Strip, labels: list[Overlay], left: int, cols: int, style: Style) -> Strip:
    """Draw labels as badges over the image's top line, each at its corner's side.

    The right-hand badges (the patches that ran) keep their cells; a left-hand badge (the
    heat-map's) that would run into them is cut short with an ellipsis.
    """
    texts = {
        side: " ".join(f" {o.label} " for o in labels if o.corner.endswith(side))
        for side in ("left", "right")
    }
    right = min(cell_len(texts["right"]), cols)
    room = {"left": cols - right - 1 if right else cols, "right": cols}
    for side in ("right", "left"):
        text, width = texts[side], room[side]
        if not text or width < 1:
            continue
        if cell_len(text) > width:
            text = set_cell_size(text, width - 1) + "…"
        badge = Strip([Segment(text, style)], cell_len(text))
        x = left if side == "left" else left + cols - badge.cell_length
        line = Strip.join([line.crop(0, x), badge, line.crop(x + badge.cell_length)])
    return line
