"""Plain numpy forward pass of a topology: the cross-check for the OpenCL kernels.

It is deliberately simple (NHWC, float32, TensorFlow SAME padding); tests assert that the
OpenCL pass agrees with it. It is not used to serve results.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from neuralpatch.engine.topology import BaseNetworkFiles, Layer


def same_padding(size: int, k: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after): the extra pixel goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def _pad(x: np.ndarray, layer: Layer) -> np.ndarray:
    ph = same_padding(x.shape[1], layer.k, layer.stride)
    pw = same_padding(x.shape[2], layer.k, layer.stride)
    return np.pad(x, ((0, 0), ph, pw, (0, 0)))


def _windows(x: np.ndarray, layer: Layer, out_hw: tuple[int, int]):
    """Yield (dy, dx, strided input view) for each kernel tap."""
    xp, s = _pad(x, layer), layer.stride
    oh, ow = out_hw
    for dy in range(layer.k):
        for dx in range(layer.k):
            yield dy, dx, xp[:, dy : dy + s * oh : s, dx : dx + s * ow : s, :]


def _activate(y: np.ndarray, act: str) -> np.ndarray:
    return np.clip(y, 0.0, 6.0, out=y) if act == "relu6" else y


def forward_reference(
    net: BaseNetworkFiles, batch: np.ndarray, on_layer: Callable[[int, int], None] | None = None
) -> dict[str, np.ndarray]:
    """Run NHWC float32 `batch`; returns probabilities, features and the last feature map."""
    topo = net.topology
    outputs: dict[str, np.ndarray] = {}
    x = batch
    feature_map = features = None
    for i, layer in enumerate(topo.layers):
        if layer.kind in ("conv", "dwconv"):
            w, b = net.weights(layer)
            oh, ow = math.ceil(x.shape[1] / layer.stride), math.ceil(x.shape[2] / layer.stride)
            y = np.zeros((x.shape[0], oh, ow, layer.cout), np.float32)
            for dy, dx, view in _windows(x, layer, (oh, ow)):
                y += view @ w[dy, dx] if layer.kind == "conv" else view * w[dy, dx]
            x = _activate(y + b, layer.act)
        elif layer.kind == "pwconv":
            w, b = net.weights(layer)
            y = x @ w + b
            if layer.add:
                y += outputs[layer.add]
            x = _activate(y, layer.act)
        elif layer.kind == "gap":
            feature_map = x
            x = features = x.mean(axis=(1, 2))
        elif layer.kind == "fc":
            w, b = net.weights(layer)
            x = x @ w + b
        else:  # softmax
            e = np.exp(x - x.max(axis=1, keepdims=True))
            x = e / e.sum(axis=1, keepdims=True)
        outputs[layer.name] = x
        if on_layer:
            on_layer(i + 1, len(topo.layers))
    return {"probabilities": x, "features": features, "feature_map": feature_map}
