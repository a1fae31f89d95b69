"""Heat-maps: where on the photo a patch (or the base network) found its answer.

A patch is one linear layer on the global average of the base network's last feature map F
(h × w × D), so its logit for output k is `mean_ij(F_ij · W_k) + b_k`: the class activation
map `F · W_k` (one value per cell) averages exactly to the logit minus the bias. The base
network's own classifier is the same kind of layer (`fc` after `gap`), so its top class gets
the same map. The grid is placed in the coordinates of the *original* photo: `GridGeometry`
knows the centre-crop square the base pass saw and where each cell's receptive field is
centred (SAME padding shifts every stride-2 layer by half an input pixel). The maths and the
conventions are in docs/heatmaps.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from neuralpatch.engine.classes import BaseClasses
from neuralpatch.engine.patch_result import PatchResult
from neuralpatch.engine.preprocess import CROP_FRACTION
from neuralpatch.engine.topology import BaseNetworkFiles, Topology


@dataclass(frozen=True)
class GridGeometry:
    """Where a heat-map grid lies on the original photo.

    Grid coordinate u (cell j spans [j, j + 1), its centre is j + 0.5) sits at network-input
    pixel `x = scale · u + offset` (continuous coordinates: pixel n spans [n, n + 1)); the
    input is the square `box` = [x0, y0, x1, y1] of the original photo, resized.
    """

    box: tuple[int, int, int, int]
    input_size: tuple[int, int]  # (height, width) of the network input
    scale: tuple[float, float]  # (rows, cols)
    offset: tuple[float, float]

    def to_original(self, row: float, col: float) -> tuple[float, float]:
        """Grid coordinates (continuous) → (x, y) in original-image pixels."""
        x0, y0, x1, y1 = self.box
        ys = self.scale[0] * row + self.offset[0]
        xs = self.scale[1] * col + self.offset[1]
        return (
            x0 + xs * (x1 - x0) / self.input_size[1],
            y0 + ys * (y1 - y0) / self.input_size[0],
        )

    def sample_maps(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """For a height × width raster of the box: each pixel's grid index coordinate.

        Index coordinates put cell j's centre at j, as `cv2.remap` expects.
        """
        ys = (np.arange(height, dtype=np.float32) + 0.5) * (self.input_size[0] / height)
        xs = (np.arange(width, dtype=np.float32) + 0.5) * (self.input_size[1] / width)
        rows = (ys - self.offset[0]) / self.scale[0] - 0.5
        cols = (xs - self.offset[1]) / self.scale[1] - 0.5
        map_x = np.broadcast_to(cols[None, :], (height, width))
        map_y = np.broadcast_to(rows[:, None], (height, width))
        return np.ascontiguousarray(map_x), np.ascontiguousarray(map_y)


def crop_box(image_height: int, image_width: int, topology: Topology) -> tuple[int, int, int, int]:
    """The square of the original photo the base pass sees, as `preprocess` crops it."""
    if (image_height, image_width) == (topology.height, topology.width):
        return (0, 0, image_width, image_height)  # preprocess takes an input-sized photo as is
    side = max(1, round(min(image_height, image_width) * CROP_FRACTION))
    top, left = (image_height - side) // 2, (image_width - side) // 2
    return (left, top, left + side, top + side)


def receptive_field_centres(topology: Topology) -> tuple[tuple[float, float], tuple[float, float]]:
    """(scale, offset) per axis of the centres of the last feature map's cells.

    Composes every strided layer before the pooling: with TF SAME padding (`pad_before =
    total // 2`) output cell i of a k × k, stride-s layer is centred on input index
    `i·s − pad_before + (k − 1)/2`.
    """
    scale, offset = [1.0, 1.0], [0.0, 0.0]
    size = [topology.height, topology.width]
    for layer in topology.layers[: topology.feature_layer()]:
        if layer.kind not in ("conv", "dwconv"):
            continue
        for axis in (0, 1):
            n, s, k = size[axis], layer.stride, layer.k
            out = math.ceil(n / s)
            before = max((out - 1) * s + k - n, 0) // 2
            shift = -(s - 1) / 2 - before + (k - 1) / 2
            offset[axis] += scale[axis] * shift
            scale[axis] *= s
            size[axis] = out
    return (scale[0], scale[1]), (offset[0], offset[1])


def cam_geometry(image_shape: tuple[int, ...], topology: Topology) -> GridGeometry:
    """The geometry of the class activation map of a photo of `image_shape` (H, W, ...)."""
    scale, offset = receptive_field_centres(topology)
    box = crop_box(image_shape[0], image_shape[1], topology)
    return GridGeometry(box, (topology.height, topology.width), scale, offset)


@dataclass(frozen=True)
class Subject:
    """What a heat-map explains: output `index` of `source` ("base" or a patch's name)."""

    source: str
    index: int
    tag: str
    name: str


@dataclass(frozen=True)
class Head:
    """One output of a linear head on the pooled features: its weights row and bias."""

    subject: Subject
    weights: np.ndarray  # (D,)
    bias: float


@dataclass(frozen=True)
class Heatmap:
    """A grid of evidence for one output, placed on the original photo.

    `grid` excludes the bias: for a CAM its mean is `logit − bias` exactly. For occlusion a
    cell holds how much the logit drops when a grey square covers that spot.
    """

    subject: Subject
    method: str  # "cam" or "occlusion"
    grid: np.ndarray  # (rows, cols) float32
    geometry: GridGeometry
    logit: float
    bias: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.geometry.box

    def peak(self) -> tuple[float, float]:
        """The hottest point (x, y) in original pixels, refined between cells.

        A parabola through the hottest cell and its two neighbours, per axis, puts the
        maximum between cell centres (at most half a cell away); a border cell keeps its
        centre on the side it has no neighbour.
        """
        grid = self.grid
        row, col = np.unravel_index(int(np.argmax(grid)), grid.shape)
        dy = _parabola_vertex(grid[:, col], row)
        dx = _parabola_vertex(grid[row, :], col)
        x, y = self.geometry.to_original(row + 0.5 + dy, col + 0.5 + dx)
        x0, y0, x1, y1 = self.box
        return (float(min(max(x, x0), x1)), float(min(max(y, y0), y1)))

    def upsample(self, height: int, width: int) -> np.ndarray:
        """The map over the box as a height × width float32 raster (bilinear, edges held)."""
        map_x, map_y = self.geometry.sample_maps(height, width)
        return cv2.remap(
            np.ascontiguousarray(self.grid, np.float32),
            map_x,
            map_y,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )

    def to_dict(self, png: str | None = None) -> dict[str, Any]:
        """The `heatmap` object of `neuralpatch classify --json` (keys in its --help)."""
        s = self.subject
        return {
            "method": self.method,
            "output": {"index": s.index, "tag": s.tag, "name": s.name},
            "grid": [[float(v) for v in row] for row in self.grid],
            "box": list(self.box),
            "peak": [float(v) for v in self.peak()],
            "logit": self.logit,
            "bias": self.bias,
            "png": png,
        }


def _parabola_vertex(values: np.ndarray, i: int) -> float:
    if i == 0 or i == len(values) - 1:
        return 0.0
    left, mid, right = float(values[i - 1]), float(values[i]), float(values[i + 1])
    curvature = left - 2 * mid + right
    if curvature >= 0:  # flat: no better guess than the cell centre
        return 0.0
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def class_activation_map(feature_map: np.ndarray, head: Head, geometry: GridGeometry) -> Heatmap:
    """The CAM `feature_map · weights` of one output of a GAP-linear head, (h, w, D) · (D,)."""
    grid = np.asarray(feature_map, np.float32) @ np.asarray(head.weights, np.float32)
    logit = float(grid.mean()) + head.bias
    return Heatmap(head.subject, "cam", grid, geometry, logit, head.bias)


def base_classifier(files: BaseNetworkFiles) -> tuple[np.ndarray, np.ndarray]:
    """The base network's own head on the pooled features: weights (classes, D) and bias.

    The `fc` layers after the pooling have no activation, so several compose into one.
    """
    weights = bias = None
    for layer in files.topology.layers[files.topology.feature_layer() :]:
        if layer.kind != "fc":
            continue
        w, b = files.weights(layer)
        weights, bias = (w, b) if weights is None else (weights @ w, bias @ w + b)
    if weights is None:
        raise ValueError(f"{files.txt_path} has no fc layer after its pooling")
    return np.ascontiguousarray(weights.T, np.float32), np.asarray(bias, np.float32)


def patch_head(result: PatchResult, index: int | None = None) -> Head:
    """Output `index` (default: the top one) of a patch that ran."""
    patch = result.loaded.patch
    k = result.index if index is None else index
    output = patch.outputs[k]
    return Head(
        Subject(patch.name, k, output.tag, output.name), patch.weights[k], float(patch.bias[k])
    )


def base_head(classifier: tuple[np.ndarray, np.ndarray], classes: BaseClasses, index: int) -> Head:
    """Class `index` of the base network's own head (see `base_classifier`)."""
    subject = Subject("base", index, classes.tags[index], classes.names[index])
    return Head(subject, classifier[0][index], float(classifier[1][index]))
