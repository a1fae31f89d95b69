"""The base network's own classifier head, run on the host from pooled features.

The base pass ends in `gap → fc → softmax`, and the feature cache keeps the pooled features,
so the base network's answer for every cached photo is one small matmul away: no second
OpenCL pass. Coverage, end-to-end validation and trigger suggestions all use it, so they see
the same top-1 the live pipeline does.
"""

from __future__ import annotations

import numpy as np

from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.errors import BaseNetworkError


class BaseHead:
    """`softmax(features @ W + b)` with the base network's fc weights (W is D×classes)."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, tags: list[str]):
        self.weights = np.asarray(weights, np.float64)
        self.bias = np.asarray(bias, np.float64)
        self.tags = tags

    @classmethod
    def for_base(cls, base: BaseNetwork) -> BaseHead:
        """The head of `base`: the fc layer after the pooling layer, then its soft-max."""
        layers, pool = base.topology.layers, base.topology.feature_layer()
        tail = [layer.kind for layer in layers[pool + 1 :]]
        if tail != ["fc", "softmax"]:
            raise BaseNetworkError(
                "the base network does not end in pooling, fc, softmax "
                f"(after pooling: {' '.join(tail) or 'nothing'})",
                base.files.txt_path,
            )
        weights, bias = base.files.weights(layers[pool + 1])
        return cls(weights, bias, list(base.classes.tags))

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(N, classes) base probabilities of (N, D) pooled features, in float64."""
        logits = np.atleast_2d(np.asarray(features, np.float64)) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def top_k(self, features: np.ndarray, k: int = 1) -> np.ndarray:
        """(N, k) class indices, most probable first."""
        probs = self.probabilities(features)
        k = max(1, min(k, probs.shape[1]))
        part = np.argpartition(-probs, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(probs, part, axis=1).argsort(axis=1)[:, ::-1]
        return np.take_along_axis(part, order, axis=1)

    def top_tags(self, features: np.ndarray, k: int = 1) -> list[list[str]]:
        """The k most probable base tags of each photo, most probable first."""
        return [[self.tags[i] for i in row] for row in self.top_k(features, k)]
