"""The SGD step checked against the maths, not only against itself.

The reference below is written from the textbook definitions, sample by sample in float64
plain Python (soft-max, cross-entropy, its gradient, heavy-ball momentum, L2 weight decay on
the weights only), so it shares no code with `engine.patch_model`.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from neuralpatch.engine.dataset import load_dataset
from neuralpatch.engine.hyper_params import HyperParams
from neuralpatch.engine.patch_model import LinearPatch, SGDState, sgd_step
from neuralpatch.engine.trainer import Trainer


def reference_step(w, b, vw, vb, x, y, lr, momentum, decay):
    """One step on lists of lists; returns (w, b, vw, vb, loss) as new lists."""
    k, d, n = len(w), len(w[0]), len(x)
    gw = [[0.0] * d for _ in range(k)]
    gb = [0.0] * k
    loss = 0.0
    for xi, yi in zip(x, y, strict=True):
        logits = [sum(w[j][i] * xi[i] for i in range(d)) + b[j] for j in range(k)]
        top = max(logits)
        exps = [math.exp(z - top) for z in logits]
        p = [e / sum(exps) for e in exps]
        loss -= math.log(p[yi]) / n
        for j in range(k):
            err = (p[j] - (1.0 if j == yi else 0.0)) / n  # d loss / d logit_j
            gb[j] += err
            for i in range(d):
                gw[j][i] += err * xi[i]
    vw = [
        [momentum * vw[j][i] - lr * (gw[j][i] + decay * w[j][i]) for i in range(d)]
        for j in range(k)
    ]
    vb = [momentum * vb[j] - lr * gb[j] for j in range(k)]
    w = [[w[j][i] + vw[j][i] for i in range(d)] for j in range(k)]
    b = [b[j] + vb[j] for j in range(k)]
    return w, b, vw, vb, loss


@pytest.mark.parametrize(("momentum", "decay"), [(0.0, 0.0), (0.9, 0.0), (0.9, 0.01)])
def test_sgd_step_matches_the_reference_step_by_step(momentum, decay):
    rng = np.random.default_rng(7)
    k, d, n, lr = 3, 6, 5, 0.3
    patch = LinearPatch.xavier(k, d, rng)
    patch.bias[:] = rng.normal(size=k).astype(np.float32)
    state = SGDState.zeros_like(patch)
    w, b = patch.weights.astype(float).tolist(), patch.bias.astype(float).tolist()
    vw, vb = [[0.0] * d for _ in range(k)], [0.0] * k
    for _ in range(6):
        x = rng.normal(size=(n, d)).astype(np.float32)
        y = rng.integers(0, k, size=n)
        loss, probs = sgd_step(patch, state, x, y, lr, momentum, decay)
        w, b, vw, vb, ref_loss = reference_step(
            w, b, vw, vb, x.astype(float).tolist(), y.tolist(), lr, momentum, decay
        )
        assert loss == pytest.approx(ref_loss, rel=1e-5)
        np.testing.assert_allclose(patch.weights, w, atol=2e-6)
        np.testing.assert_allclose(patch.bias, b, atol=2e-6)
        np.testing.assert_allclose(state.velocity_w, vw, atol=2e-6)
        np.testing.assert_allclose(state.velocity_b, vb, atol=2e-6)
        assert probs.shape == (n, k)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_the_step_follows_the_numerical_gradient_of_the_loss():
    """With no momentum and no decay, the step is -lr times the finite-difference gradient."""
    rng = np.random.default_rng(3)
    k, d, n, lr, h = 3, 4, 8, 1e-3, 1e-4
    w0 = rng.normal(size=(k, d))
    x, y = rng.normal(size=(n, d)), rng.integers(0, k, size=n)

    def loss_at(w: np.ndarray) -> float:
        logits = x @ w.T
        logits -= logits.max(axis=1, keepdims=True)
        return float(-(logits[np.arange(n), y] - np.log(np.exp(logits).sum(axis=1))).mean())

    numerical = np.zeros_like(w0)
    for j in range(k):
        for i in range(d):
            up, down = w0.copy(), w0.copy()
            up[j, i] += h
            down[j, i] -= h
            numerical[j, i] = (loss_at(up) - loss_at(down)) / (2 * h)
    patch = LinearPatch(w0.astype(np.float32), np.zeros(k, np.float32))
    before = patch.weights.copy()
    sgd_step(patch, SGDState.zeros_like(patch), x.astype(np.float32), y, lr, 0.0, 0.0)
    np.testing.assert_allclose((patch.weights - before) / -lr, numerical, atol=2e-3)


@pytest.fixture(scope="module")
def cached_dataset(base_network, sample_data):
    return load_dataset(sample_data, base_network.classes.tag_names())


def test_a_live_learning_rate_change_scales_the_next_update(base_network, cached_dataset):
    """Two runs draw the same batches; one asks for lr × 5 after step 1 (from another
    thread, through the trainer's queue). Step 2's gradient part must be 5 times larger."""
    momentum, lr, factor = 0.9, 0.01, 5.0
    runs = []
    for change in (False, True):
        trainer = Trainer(
            base_network, cached_dataset, HyperParams(batch_size=8, lr=lr, momentum=momentum)
        )
        trainer.prepare()
        w0 = trainer.state.patch.weights.astype(np.float64)
        trainer.run(threading.Event(), steps=1)
        w1 = trainer.state.patch.weights.astype(np.float64)
        if change:
            asker = threading.Thread(target=trainer.request_change, kwargs={"lr": lr * factor})
            asker.start()
            asker.join()
        trainer.run(threading.Event(), steps=1)
        w2 = trainer.state.patch.weights.astype(np.float64)
        runs.append((w1 - w0, w2 - w1, trainer.params.lr))
    (first_a, second_a, lr_a), (first_b, second_b, lr_b) = runs
    np.testing.assert_array_equal(first_a, first_b)  # the same first step
    assert (lr_a, lr_b) == (lr, lr * factor)
    # step 2 = momentum * v1 - lr * grad, and v1 is step 1's update (from zero velocity)
    gradient_part_a = second_a - momentum * first_a
    gradient_part_b = second_b - momentum * first_b
    assert np.abs(gradient_part_a).max() > 1e-6
    np.testing.assert_allclose(gradient_part_b, factor * gradient_part_a, rtol=1e-3, atol=1e-7)
