"""The neural patch itself: one fully-connected layer + soft-max on the pooled features.

Trained with mini-batch SGD (momentum, weight decay) on cross-entropy, starting from Xavier
initialisation, as in the original tool. Numpy is enough here: the layer is tiny next to the
base pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BIG = float(np.finfo(np.float32).max)


def finite_logits(logits: np.ndarray) -> np.ndarray:
    """Logits with NaN as the least likely and ±infinity as the largest finite values.

    Loading bounds every patch's weights so its logits stay finite for any sane features;
    this keeps the soft-max a distribution (never NaN) even for features that are not.
    """
    return np.nan_to_num(logits, nan=-_BIG, posinf=_BIG, neginf=-_BIG)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Soft-max over the last axis, shifted by the maximum so no exp can overflow."""
    top = logits.max(axis=-1, keepdims=True)
    if not np.isfinite(top).all():
        logits = finite_logits(logits)
        top = logits.max(axis=-1, keepdims=True)
    e = np.exp(logits - top)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class LinearPatch:
    """Weights (K, D) and bias (K,); row k scores output neuron k."""

    weights: np.ndarray
    bias: np.ndarray

    @classmethod
    def xavier(cls, outputs: int, feature_dim: int, rng: np.random.Generator) -> LinearPatch:
        """Xavier/Glorot uniform initialisation, zero bias."""
        limit = np.sqrt(6.0 / (outputs + feature_dim))
        w = rng.uniform(-limit, limit, size=(outputs, feature_dim)).astype(np.float32)
        return cls(w, np.zeros(outputs, np.float32))

    @property
    def outputs(self) -> int:
        return self.weights.shape[0]

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features → (N, K) soft-max probabilities."""
        return softmax(features @ self.weights.T + self.bias)


@dataclass
class SGDState:
    """Momentum buffers, saved in full snapshots so training resumes exactly."""

    velocity_w: np.ndarray
    velocity_b: np.ndarray

    @classmethod
    def zeros_like(cls, patch: LinearPatch) -> SGDState:
        return cls(np.zeros_like(patch.weights), np.zeros_like(patch.bias))


def sgd_step(
    patch: LinearPatch,
    state: SGDState,
    features: np.ndarray,
    labels: np.ndarray,
    lr: float,
    momentum: float,
    decay: float,
) -> tuple[float, np.ndarray]:
    """One SGD step on a mini-batch; returns (mean cross-entropy loss, probabilities)."""
    n = features.shape[0]
    probs = patch.probabilities(features)
    loss = float(-np.log(np.maximum(probs[np.arange(n), labels], 1e-12)).mean())
    grad = probs.copy()
    grad[np.arange(n), labels] -= 1.0
    grad /= n
    grad_w = grad.T @ features + decay * patch.weights
    grad_b = grad.sum(axis=0)
    state.velocity_w *= momentum
    state.velocity_w -= lr * grad_w
    state.velocity_b *= momentum
    state.velocity_b -= lr * grad_b
    patch.weights += state.velocity_w.astype(np.float32)
    patch.bias += state.velocity_b.astype(np.float32)
    return loss, probs
