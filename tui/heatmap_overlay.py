"""The live screens' heat-map overlay: where the selected patch looks, over the live frame.

`HeatmapOverlay` holds the user's choice (on or off; which patch, kept by name so it survives
from frame to frame) and turns a `LiveResult` into a `HeatLayer`, the CAM of that patch's
answer: in teach mode the taught patch comes first, then the patches that triggered, and the
base network's top class when there is none. `ImageView` asks the
layer to blend itself into the pixels it is about to draw, at cell resolution, so the cost is
one 1280-long dot product per cell plus a blend of a few thousand pixels — measured in
`benchmarks/heatmap_cost.py`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rich.cells import cell_len

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.heatmap import (
    GridGeometry,
    Head,
    Heatmap,
    Subject,
    base_classifier,
    base_head,
    cam_geometry,
    class_activation_map,
    patch_head,
)
from neuralpatch.engine.heatmap_image import COLORMAP, blend_over, value_range
from neuralpatch.engine.live_loop import LiveResult
from neuralpatch.engine.online_trainer import Published
from neuralpatch.engine.safe_text import printable
from neuralpatch.engine.teach_answer import TeachOutput
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

    def label(self, width: int | None = None) -> str:
        """The badge naming the map and its scale (the bar: blue = low, red = high); the
        shortest form that fits `width` cells, so a narrow frame still says what it shows."""
        s = self.heatmap.subject
        source, name = printable(s.source), printable(s.name)
        lo, hi = value_range(self.heatmap.grid)
        forms = (
            f"heat: {source} → {name} · blue {lo:.1f} … red {hi:.1f}",
            f"{source} → {name} {lo:.1f}…{hi:.1f}",
            f"{name} {lo:.1f}…{hi:.1f}",
        )
        if width is None:
            return forms[0]
        return next((f for f in forms if cell_len(f) + 2 <= width), forms[-1])


class HeatmapOverlay:
    """Which heat-map a live screen shows, if any; `last_ms` is its cost on the frame."""

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

    def cycle(self, live: LiveResult | None, taught: Head | None = None) -> str | None:
        """Select the patch after the one shown (wrapping round); returns its name."""
        names = [h.subject.source for h in _heads(live, taught)]
        if not names:
            self.selected = None
            return None
        at = names.index(self.selected) if self.selected in names else 0  # 0: shown first
        self.selected = names[(at + 1) % len(names)]
        return self.selected

    def layer_for(self, live: LiveResult | None, taught: Head | None = None) -> HeatLayer | None:
        """The CAM layer of the selected patch on this frame, or None when off; `taught` is
        the taught patch's head in teach mode."""
        if not self.enabled or live is None or live.feature_map is None:
            return None
        started = time.perf_counter()
        shape = live.image.shape
        if self._geometry is None or self._geometry[0] != shape:
            self._geometry = (shape, cam_geometry(shape, self.base.topology))
        geometry = self._geometry[1]
        heads = _heads(live, taught)
        chosen = next((h for h in heads if h.subject.source == self.selected), None)
        head = chosen or (heads[0] if heads else None)
        if head is None:
            top = live.result.top[0].index
            head = base_head(self.classifier, self.base.classes, top)
        heat = class_activation_map(live.feature_map, head, geometry)
        self.last_ms = (time.perf_counter() - started) * 1e3
        return HeatLayer(heat, live.image.shape[1])

    def overlays(self, layer: HeatLayer | None, width: int | None = None) -> list[Overlay]:
        """The badge of `layer`, fitted to a frame `width` cells wide (None: the full one)."""
        return [] if layer is None else [Overlay(label=layer.label(width), corner="top-left")]


def taught_head(
    name: str, outputs: Sequence[TeachOutput], published: Published, index: int
) -> Head | None:
    """Output `index` of the patch being taught, with the weights training last published;
    None while a category added this instant has no row yet."""
    if index >= min(len(outputs), len(published.bias)):
        return None
    subject = Subject(name, index, outputs[index].tag, outputs[index].name)
    return Head(subject, published.weights[index], float(published.bias[index]))


def _heads(live: LiveResult | None, taught: Head | None) -> list[Head]:
    ran = [patch_head(r) for _, r in live.result.walk()] if live is not None else []
    return [taught, *ran] if taught is not None else ran
