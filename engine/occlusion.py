"""Occlusion sensitivity: a model-agnostic cross-check of the class activation map.

A grey square slides over the network input; at each position the base network runs again
(the positions go through the OpenCL device in batches) and the map records how far each
chosen output's logit falls. Slower than a CAM by the number of positions, so only on request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.heatmap import GridGeometry, Head, Heatmap, crop_box
from neuralpatch.engine.preprocess import to_input

GREY = 127  # RGB value of the occluder: the input mean, so the network sees zeros there
DEFAULT_SIZE = 56  # a quarter of the 224-pixel input per side
DEFAULT_STRIDE = 28  # 7 × 7 positions, the CAM's own grid, 49 passes
BATCH = 16


def positions(extent: int, size: int, stride: int) -> np.ndarray:
    """Top-left corners along one axis: every `stride` pixels while the square fits."""
    if not 0 < size <= extent or stride < 1:
        raise ValueError(f"an occluder of {size} px with stride {stride} does not fit {extent} px")
    return np.arange(0, extent - size + 1, stride)


def occlusion_maps(
    base: BaseNetwork,
    image: np.ndarray,
    heads: Sequence[Head],
    size: int = DEFAULT_SIZE,
    stride: int = DEFAULT_STRIDE,
    on_progress: Callable[[int, int, str], None] | None = None,
    stop: threading.Event | None = None,
) -> list[Heatmap] | None:
    """One occlusion map per head from one set of passes; None when stopped early.

    Cell (i, j) = logit of the whole crop − logit with the square at row i, column j covered.
    The same passes serve every head, so a base class and several patch outputs cost the same.
    """
    topology = base.topology
    clean = to_input([image], topology)[0]
    rows, cols = positions(topology.height, size, stride), positions(topology.width, size, stride)
    grey = np.float32((GREY - topology.mean) * topology.scale)
    weights = np.stack([h.weights for h in heads]).astype(np.float32)  # (H, D)
    bias = np.array([h.bias for h in heads], np.float32)
    reference = base.run_tensor(clean[None]).features[0] @ weights.T + bias
    spots = [(y, x) for y in rows for x in cols]
    drops = np.empty((len(spots), len(heads)), np.float32)
    for start in range(0, len(spots), BATCH):
        if stop is not None and stop.is_set():
            return None
        chunk = spots[start : start + BATCH]
        batch = np.repeat(clean[None], len(chunk), axis=0)
        for n, (y, x) in enumerate(chunk):
            batch[n, y : y + size, x : x + size] = grey
        logits = base.run_tensor(batch).features @ weights.T + bias
        drops[start : start + len(chunk)] = reference - logits
        if on_progress:
            on_progress(start + len(chunk), len(spots), "occlusion")
    box = crop_box(image.shape[0], image.shape[1], topology)
    # Cell j is centred on its square: x = stride·(u − 0.5) + size/2 at u = j + 0.5.
    offset = size / 2 - stride / 2
    geometry = GridGeometry(
        box, (topology.height, topology.width), (stride, stride), (offset, offset)
    )
    grids = drops.reshape(len(rows), len(cols), len(heads))
    return [
        Heatmap(
            h.subject,
            "occlusion",
            np.ascontiguousarray(grids[..., i]),
            geometry,
            float(reference[i]),
            h.bias,
        )
        for i, h in enumerate(heads)
    ]
