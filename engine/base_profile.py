"""Where the base pass spends its time: device ms and GFLOP/s per kernel (OpenCL event
profiling), against the machine's sgemm rate (numpy matmul) measured in the same run.

The host is noisy (other processes share the cores), so every figure is the best of
`repeats` rounds, and each round also times the sgemm (the best round counts): a fraction of
peak is then a fraction of what this machine reached in this run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from neuralpatch.engine.opencl_network import OpenCLNetwork

Progress = Callable[[int, int, str], None]
SGEMM_SIZE = 1024


def sgemm_gflops(size: int = SGEMM_SIZE, seconds: float = 0.15) -> float:
    """Best GFLOP/s of a float32 `size`^3 numpy matmul over about `seconds` (all threads)."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)  # warm up the BLAS thread pool
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def profile_network(
    network: OpenCLNetwork,
    batch: int = 1,
    repeats: int = 5,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> dict:
    """Per-kernel device time of `network` at `batch` images; see `neuralpatch base profile`.

    Keys: batch, repeats, sgemm_gflops, wall_ms (best whole pass, normal queue),
    wall_ms_per_image, device_ms (sum of the kernels' best times), launches, flops, gflops
    (flops / wall_ms), peak_fraction (gflops / sgemm_gflops), kernels: [{layer, kind, ms,
    flops, gflops, peak_fraction, share (of device_ms)}] in execution order.
    """
    height, width, channels = network.input_shape
    x = np.random.default_rng(0).uniform(-1, 1, (batch, height, width, channels))
    x = x.astype(np.float32)
    network.forward(x)  # compiles work-group functions and allocates buffers
    peak = 0.0
    rounds: list[list[dict]] = []
    walls: list[float] = []
    total = 2 * repeats
    for i in range(repeats):
        if stop is not None and stop.is_set():
            break
        peak = max(peak, sgemm_gflops())
        start = time.perf_counter()
        network.forward(x)
        walls.append(time.perf_counter() - start)
        if progress:
            progress(2 * i + 1, total, "timing passes")
        rounds.append(network.profile(x))
        if progress:
            progress(2 * i + 2, total, "profiling kernels")
    if not rounds:
        raise RuntimeError("profiling stopped before the first pass")
    kernels = []
    for i, row in enumerate(rounds[0]):
        ms = min(r[i]["ms"] for r in rounds)
        gflops = row["flops"] / ms / 1e6 if ms > 0 else 0.0
        kernels.append(row | {"ms": ms, "gflops": gflops, "peak_fraction": gflops / peak})
    device_ms = sum(k["ms"] for k in kernels)
    for k in kernels:
        k["share"] = k["ms"] / device_ms if device_ms > 0 else 0.0
    wall_ms = min(walls) * 1e3
    flops = sum(k["flops"] for k in kernels)
    chunks = -(-batch // network.chunk)
    return {
        "batch": batch,
        "repeats": len(rounds),
        "sgemm_gflops": peak,
        "wall_ms": wall_ms,
        "wall_ms_per_image": wall_ms / batch,
        "device_ms": device_ms,
        "launches": len(kernels) * chunks,
        "flops": flops,
        "gflops": flops / wall_ms / 1e6,
        "peak_fraction": flops / wall_ms / 1e6 / peak,
        "kernels": kernels,
    }
