"""Continuous training for teach mode: SGD on cached features in a thread of its own.

The thread owns the patch, its momentum and the samples. Everything else talks to it with
messages on a queue (a new label, a forgotten photo, a rate ×2, pause), applied between two
steps, and reads what it publishes: an immutable `Published` swapped in with one assignment,
so the frame loop reads the latest weights without ever waiting for a step. Draws are
class-balanced (a class, then a photo of it), so fifty background frames do not drown five
labels of a rare category. Steps are paced so the thread leaves the CPU to the frame loop.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from neuralpatch.engine.hyper_params import BOUNDS, HyperParams
from neuralpatch.engine.patch_model import LinearPatch, SGDState, sgd_step

STEP_PAUSE_S = 0.002  # between steps: at most a few hundred a second, a sliver of one core
LABEL_STEPS = 8  # steps on a batch holding a new label, before the label call returns
RATE_WINDOW_S = 2.0
LOSS_HISTORY = 100_000
SCALE_FLOORS = {"lr": 1e-6, "decay": 1e-9}


@dataclass(frozen=True)
class Published:
    """What the training thread shows the world; never changed once published."""

    weights: np.ndarray
    bias: np.ndarray
    step: int
    steps_per_s: float
    rates: HyperParams
    new_only: bool
    paused: bool
    counts: tuple[int, ...]  # samples per output
    new_counts: tuple[int, ...]  # of those, labelled in this session
    loss: float | None

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return LinearPatch(self.weights, self.bias).probabilities(np.atleast_2d(features))


@dataclass
class _Sample:
    features: np.ndarray
    output: int
    new: bool


@dataclass
class _Message:
    kind: str
    args: tuple = ()
    done: threading.Event | None = field(default=None)


class OnlineTrainer:
    """`post`-driven SGD on a changing sample set; `start()` runs it in a daemon thread."""

    def __init__(
        self,
        patch: LinearPatch,
        sgd: SGDState | None = None,
        rates: HyperParams | None = None,
        *,
        step: int = 0,
        losses: list[float] | None = None,
        seed: int = 0,
    ):
        self.patch, self.sgd = patch, sgd or SGDState.zeros_like(patch)
        self.rates = rates or HyperParams()
        self.step, self.losses = step, list(losses or [])
        self.rng = np.random.default_rng(seed)
        self.new_only = False
        self.paused = False
        self.samples: dict[Hashable, _Sample] = {}
        self._pools: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._counts: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        self._times: deque[float] = deque()
        self._queue: queue.Queue[_Message] = queue.Queue()
        self._lock = threading.Lock()  # held while a step or a message changes the state
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = self._publish()

    # -- talking to the thread ------------------------------------------------------------
    def post(self, kind: str, *args: object, wait: bool = False, timeout: float = 10.0) -> None:
        """Queue a change; with `wait`, return once the thread applied it (and trained on it)."""
        done = threading.Event() if wait else None
        self._queue.put(_Message(kind, args, done))
        if self._thread is None:  # not started (tests, set-up): apply at once
            self._drain()
        elif done is not None:
            done.wait(timeout)

    def add(self, key: Hashable, features: np.ndarray, output: int, *, new: bool) -> None:
        """One sample; a new label is trained on before this returns (unless paused)."""
        self.post("add", key, np.asarray(features, np.float32), output, new, wait=True)

    def add_many(self, items: list[tuple[Hashable, np.ndarray, int]]) -> None:
        """Samples already in the dataset (not new labels): one message for them all."""
        self.post("add_many", items, wait=True)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="teach-training", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self._drain()

    def capture(self) -> tuple[LinearPatch, SGDState, int, list[float], dict]:
        """Copies of the whole state, between two steps (for a snapshot)."""
        with self._lock:
            return (
                LinearPatch(self.patch.weights.copy(), self.patch.bias.copy()),
                SGDState(self.sgd.velocity_w.copy(), self.sgd.velocity_b.copy()),
                self.step,
                list(self.losses),
                self.rng.bit_generator.state,
            )

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._drain()
            if self.paused or not self._pool():
                try:
                    message = self._queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                self._apply(message)
                continue
            with self._lock:
                self._train_step()
                self.published = self._publish()
            time.sleep(STEP_PAUSE_S)

    def _drain(self) -> None:
        while True:
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                return
            self._apply(message)

    def _apply(self, message: _Message) -> None:
        with self._lock:
            try:
                getattr(self, f"_on_{message.kind}")(*message.args)
                self._counts = None
                self.published = self._publish()
            finally:
                if message.done is not None:
                    message.done.set()

    def _on_add(self, key: Hashable, features: np.ndarray, output: int, new: bool) -> None:
        self.samples[key] = _Sample(features, output, new)
        self._pools = None
        if new and not self.paused:  # learn it now: the next frame's answer reflects it
            for _ in range(LABEL_STEPS):
                self._train_step(must=features, must_output=output)

    def _on_add_many(self, items: list[tuple[Hashable, np.ndarray, int]]) -> None:
        for key, features, output in items:
            self.samples[key] = _Sample(np.asarray(features, np.float32), output, False)
        self._pools = None

    def _on_forget(self, key: Hashable) -> None:
        if self.samples.pop(key, None) is not None:
            self._pools = None

    def _on_move(self, key: Hashable, new_key: Hashable, output: int) -> None:
        sample = self.samples.pop(key, None)
        if sample is not None:
            self.samples[new_key] = _Sample(sample.features, output, True)
            self._pools = None

    def _on_insert_output(self, position: int) -> None:
        """A new output neuron at `position` (a new category; the background stays last)."""
        dim = self.patch.weights.shape[1]
        limit = np.sqrt(6.0 / (self.patch.outputs + 1 + dim))
        row = self.rng.uniform(-limit, limit, size=(1, dim)).astype(np.float32)
        self.patch.weights = np.insert(self.patch.weights, position, row, axis=0)
        self.patch.bias = np.insert(self.patch.bias, position, 0.0).astype(np.float32)
        self.sgd.velocity_w = np.insert(self.sgd.velocity_w, position, 0.0, axis=0)
        self.sgd.velocity_b = np.insert(self.sgd.velocity_b, position, 0.0)
        for sample in self.samples.values():
            if sample.output >= position:
                sample.output += 1
        self._pools = None

    def _on_scale(self, name: str, factor: float) -> None:
        # ÷2 stops at a floor, so that ×2 can always bring a rate back; ×2 at the valid top.
        value = min(max(getattr(self.rates, name) * factor, SCALE_FLOORS[name]), BOUNDS[name].high)
        self.rates = self.rates.replace(**{name: value})

    def _on_new_only(self, on: bool) -> None:
        self.new_only = bool(on)
        self._pools = None

    def _on_pause(self, on: bool) -> None:
        self.paused = bool(on)

    def _on_sync(self) -> None:
        """Nothing: waiting for it means every earlier message was applied."""

    # -- training -------------------------------------------------------------------------
    def _pool(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per output with samples: (features N×D, output index repeated N)."""
        if self._pools is None:
            by_output: dict[int, list[np.ndarray]] = {}
            for s in self.samples.values():
                if s.new or not self.new_only:
                    by_output.setdefault(s.output, []).append(s.features)
            self._pools = [
                (np.stack(rows), np.full(len(rows), k)) for k, rows in sorted(by_output.items())
            ]
        return self._pools

    def _train_step(self, must: np.ndarray | None = None, must_output: int = 0) -> None:
        pools = self._pool()
        n = self.rates.batch_size
        parts_x, parts_y = [], []
        if must is not None:
            parts_x.append(must[None, :])
            parts_y.append(np.array([must_output]))
            n -= 1
        if pools and n > 0:
            classes = self.rng.integers(len(pools), size=n)
            for c in np.unique(classes):
                x, y = pools[c]
                pick = self.rng.integers(len(x), size=int((classes == c).sum()))
                parts_x.append(x[pick])
                parts_y.append(y[pick])
        if not parts_x:
            return
        r = self.rates
        loss, _ = sgd_step(
            self.patch,
            self.sgd,
            np.concatenate(parts_x),
            np.concatenate(parts_y),
            r.lr,
            r.momentum,
            r.decay,
        )
        self.step += 1
        if len(self.losses) < LOSS_HISTORY:
            self.losses.append(loss)
        self._times.append(time.monotonic())

    def _sample_counts(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(all, new) samples per output, recounted only after the samples changed."""
        if self._counts is None or len(self._counts[0]) != self.patch.outputs:
            counts, new_counts = [0] * self.patch.outputs, [0] * self.patch.outputs
            for s in self.samples.values():
                counts[s.output] += 1
                new_counts[s.output] += s.new
            self._counts = (tuple(counts), tuple(new_counts))
        return self._counts

    def _publish(self) -> Published:
        counts, new_counts = self._sample_counts()
        now = time.monotonic()
        while self._times and now - self._times[0] > RATE_WINDOW_S:
            self._times.popleft()  # paused or idle: the rate falls to zero
        span = now - self._times[0] if self._times else 0.0
        return Published(
            self.patch.weights.copy(),
            self.patch.bias.copy(),
            self.step,
            len(self._times) / span if span > 0 else 0.0,
            self.rates,
            self.new_only,
            self.paused,
            counts,
            new_counts,
            self.losses[-1] if self.losses else None,
        )
