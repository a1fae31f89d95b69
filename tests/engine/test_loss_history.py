"""The bounded loss history: its size stays flat, its curve keeps the shape, resume is exact."""

from __future__ import annotations

import numpy as np
import pytest

from neuralpatch.engine.loss_history import CAPACITY, ROLLING_WINDOW, LossHistory


def float32_losses(n: int, seed: int = 0) -> list[float]:
    """A falling noisy curve, float32-representable like the trainer's losses."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    values = 2.0 * np.exp(-steps / (n / 5)) + 0.05 * rng.random(n)
    return [float(v) for v in values.astype(np.float32)]


def test_the_saved_size_stops_growing_with_the_step_count():
    sizes = []
    history = LossHistory()
    losses = float32_losses(200_000)
    for n, loss in enumerate(losses, 1):
        history.add(loss)
        if n in (10_000, 50_000, 200_000):
            sizes.append(history.to_saved()[0].nbytes)
    assert len(history) == 200_000
    assert max(sizes) <= 4 * (CAPACITY + ROLLING_WINDOW) and max(sizes) - min(sizes) <= 4 * CAPACITY
    assert len(history.means) < CAPACITY


def test_the_points_are_means_of_their_steps():
    history = LossHistory(capacity=8)
    losses = float32_losses(100)
    for loss in losses:
        history.add(loss)
    stride = history.stride
    assert stride == 16  # 100 steps in under 8 points of 2^k steps
    for i, point in enumerate(history.means):
        assert point == pytest.approx(np.mean(losses[i * stride : (i + 1) * stride]), rel=1e-6)
    assert history.points()[-1] == pytest.approx(np.mean(losses[len(history.means) * stride :]))
    assert history.rolling == pytest.approx(np.mean(losses[-ROLLING_WINDOW:]))


@pytest.mark.parametrize("n", [0, 7, 5000, 33_333])
def test_a_saved_history_comes_back_exactly(n):
    history = LossHistory()
    for loss in float32_losses(n, seed=n):
        history.add(loss)
    array, fields = history.to_saved()
    again = LossHistory.from_saved(array.astype(np.float32), fields)
    assert again == history
    assert len(again.recent) == min(n, ROLLING_WINDOW) and list(again.recent) == list(
        history.recent
    )
    for loss in float32_losses(3000, seed=1):  # and goes on the same way
        history.add(loss)
        again.add(loss)
    assert again == history


def test_an_old_snapshot_history_is_replayed_into_a_bounded_one():
    losses = float32_losses(5000)
    again = LossHistory.from_saved(np.asarray(losses, np.float32), {})
    fresh = LossHistory()
    for loss in losses:
        fresh.add(loss)
    assert again == fresh and len(again.means) < CAPACITY


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"loss_stride": 3}, "power of two"),
        ({"loss_stride": 0}, "loss_stride"),
        ({"loss_count": 10**400}, "loss_count"),
        ({"loss_recent": 99}, "loss_recent"),
        ({"loss_partial_count": -1}, "loss_partial_count"),
        ({"loss_partial_sum": "x"}, "loss_partial_sum"),
        ({"loss_count": 3}, "does not match"),
    ],
)
def test_inconsistent_saved_fields_are_refused(change, words):
    history = LossHistory()
    for loss in float32_losses(300):
        history.add(loss)
    array, fields = history.to_saved()
    with pytest.raises(ValueError, match=words):
        LossHistory.from_saved(array, fields | change)
