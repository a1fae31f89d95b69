"""Compressed weights: the same network with its weights rounded to float16 or quantised to
int8 (one scale per output channel), for storage and for measuring what rounding costs.

The kernels always compute in float32 (this PoCL device has no `cl_khr_fp16`), so rounded
weights are widened back to float32 when loaded: storage shrinks, speed does not change.
docs/performance.md has the measured top-1 agreement with float32 on real photos.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from neuralpatch.engine.topology import BaseNetworkFiles

STORAGE = ("float32", "float16", "int8")


def _int8_per_channel(w: np.ndarray) -> np.ndarray:
    """Quantise to int8 with one symmetric scale per output channel (the last axis)."""
    flat = w.reshape(-1, w.shape[-1]).astype(np.float64)
    scale = np.abs(flat).max(axis=0) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(flat / scale), -127, 127)
    return (q * scale).astype(np.float32).reshape(w.shape)


def rounded(files: BaseNetworkFiles, storage: str) -> BaseNetworkFiles:
    """`files` with every weight as it would come back from `storage` (biases stay float32
    for int8, as int8 runtimes keep them wider)."""
    if storage not in STORAGE:
        raise ValueError(f"unknown weight storage {storage!r} (one of {', '.join(STORAGE)})")
    if storage == "float32":
        return files
    if storage == "float16":
        data = files.data.astype(np.float16).astype(np.float32)
    else:
        data = files.data.copy()
        for layer in files.topology.layers:
            if layer.has_weights:
                w, _ = files.weights(layer)
                start = layer.weight
                data[start : start + w.size] = _int8_per_channel(w).ravel()
    return replace(files, data=data, identity=f"{files.identity}-{storage}")
