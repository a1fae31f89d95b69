"""The camera screen's heat-map overlay: where the selected patch looks, over the live frame.

`HeatmapOverlay` holds the user's choice (on or off; which triggered patch, kept by name so
it survives from frame to frame) and turns a `LiveResult` into a `HeatLayer`, the CAM of that
patch's answer (the base network's top class when nothing triggered). `ImageView` asks the
layer to blend itself into the pixels it is about to draw, at cell resolution, so the cost is
one 1280-long dot product per cell plus a blend of a few thousand pixels — measured in
`benchmarks/heatmap_cost.py`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.heatmap import (
    GridGeometry,
    Heatmap,
    base_classifier,
    base_head,
    cam_geometry,
    class_activation_map,
    patch_head,
)
from neuralpatch.engine.heatmap_image import COLORMAP, blend_over, value_range
from neuralpatch.engine.live_loop import LiveResult
from neuralpatch.engine.safe_text import printable
from neuralpatch.tui.image_view import Overlay

LEGEND_COLUMNS = 2  # pixel columns of the colour scale at the right edge of the frame


@dataclass(frozen=True)
class HeatLayer:
    """One frame's heat-map, ready to be blended into that frame's fitted pixels."""

    heatmap: Heatmap
    image_width: int  # of the frame the map belongs to, to scale its box to the pixels

    def blend(self, pixels: np.ndarray) -> np.ndarray:
        """`pixels` (the frame fitted to the view) with the map and a colour scale on them."""
        if pixels.shape[1] <= LEGEND_COLUMNS:
            return pixels
        out = blend_over(pixels, self.heatmap, pixels.shape[1] / self.image_width)
        levels = np.linspace(len(COLORMAP) - 1, 0, out.shape[0]).astype(np.intp)
        out[:, -LEGEND_COLUMNS:] = COLORMAP[levels][:, None]  # top red = the highest cell
        return out

    def label(self) -> str:
        """The badge naming the map and its scale (the bar: blue = low, red = high)."""
        s = self.heatmap.subject
        source = "base" if s.source == "base" else s.source
        lo, hi = value_range(self.heatmap.grid)
        return f"heat: {printable(source)} → {printable(s.name)} · blue {lo:.1f} … red {hi:.1f}"


class HeatmapOverlay:
    """Which heat-map the camera screen shows, if any; `last_ms` is its cost on the frame."""

    def __init__(self, base: BaseNetwork):
        self.base = base
        self.classifier = base_classifier(base.files)
        self.enabled = False
        self.selected: str | None = None  # a patch name; None: the first that ran
        self.last_ms = 0.0
        self._geometry: tuple[tuple[int, ...], GridGeometry] | None = None

    def toggle(self) -> bool:
        self.enabled = not self.enabled
        return self.enabled

    def cycle(self, live: LiveResult | None) -> str | None:
        """Select the next patch that ran on `live` (wrapping round); returns its name."""
        names = _ran(live)
        if not names:
            self.selected = None
            return None
        at = names.index(self.selected) if self.selected in names else -1
        self.selected = names[(at + 1) % len(names)]
        return self.selected

    def layer_for(self, live: LiveResult | None) -> HeatLayer | None:
        """The CAM layer of the selected patch on this frame, or None when off."""
        if not self.enabled or live is None or live.feature_map is None:
            return None
        started = time.perf_counter()
        shape = live.image.shape
        if self._geometry is None or self._geometry[0] != shape:
            self._geometry = (shape, cam_geometry(shape, self.base.topology))
        geometry = self._geometry[1]
        results = [r for _, r in live.result.walk()]
        chosen = next((r for r in results if r.name == self.selected), None)
        chosen = chosen or (results[0] if results else None)
        if chosen is not None:
            head = patch_head(chosen)
        else:
            top = live.result.top[0].index
            head = base_head(self.classifier, self.base.classes, top)
        heat = class_activation_map(live.feature_map, head, geometry)
        self.last_ms = (time.perf_counter() - started) * 1e3
        return HeatLayer(heat, live.image.shape[1])

    def overlays(self, layer: HeatLayer | None) -> list[Overlay]:
        return [] if layer is None else [Overlay(label=layer.label(), corner="top-left")]


def _ran(live: LiveResult | None) -> list[str]:
    return [r.name for _, r in live.result.walk()] if live is not None else []
