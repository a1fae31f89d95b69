"""The base network's forward pass on an OpenCL device (the fast twin of `reference.py`).

Weights are packed for the kernels and uploaded once. Activations are NHWC with channels
padded to a multiple of 16 (the padded channels hold zeros), so every kernel works on whole
`float16` vectors. A depthwise conv whose output only feeds the next 1x1 conv runs fused with
it (`depthwise_project_conv.cl`), so the expanded map is written once, not three times.
A batch runs in chunks of `chunk` images that go through all layers while their activations
are still in the CPU cache; chunks reuse the same buffers. Kernel arguments are bound once
per chunk size, so a forward pass is a run of enqueues and one wait.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neuralpatch.engine.errors import BaseNetworkError
from neuralpatch.engine.opencl_runtime import Runtime, get_runtime
from neuralpatch.engine.reference import same_padding
from neuralpatch.engine.topology import BaseNetworkFiles, Layer

VEC = 16  # channels per float16 vector; activation channels are padded to this
GEMM_ROWS = 6  # rows (pixels) per work-item in the 1x1 convs (TM)
DW_PIXELS = 7  # output pixels per work-item in depthwise_conv.cl (OWT)
DW_ROWS = 7  # output rows per depthwise work-group
CONV_PIXELS = 7  # output pixels per work-item in conv2d.cl (OWT)
DEFAULT_CHUNK = 4
# Work-group sizes are fixed: PoCL compiles (and caches) a kernel once per work-group size, so
# letting it choose per launch shape would mean dozens of compiles on a cold start.
KERNELS = {  # kind -> (file, kernel, build options, local size)
    "conv": ("conv2d.cl", "conv2d", f"-DOWT={CONV_PIXELS}", (1, 1, 1)),
    "dwconv": ("depthwise_conv.cl", "depthwise_conv", f"-DOWT={DW_PIXELS}", (1, 1, DW_ROWS)),
    "pwconv": ("pointwise_conv.cl", "pointwise_conv", f"-DTM={GEMM_ROWS}", (1, 1)),
    "fc": ("pointwise_conv.cl", "pointwise_conv", f"-DTM={GEMM_ROWS}", (1, 1)),
    "dwproject": ("depthwise_project_conv.cl", "depthwise_project_conv", f"-DTM={GEMM_ROWS}", (1,)),
    "gap": ("global_average_pool.cl", "global_average_pool", "", (1, 1)),
    "softmax": ("softmax.cl", "softmax", "", (1,)),
}


def padded(channels: int) -> int:
    return -(-channels // VEC) * VEC


def pack_panels(w_io: np.ndarray) -> np.ndarray:
    """(..., cout) weights as [cout/16][...][16] panels, zero padded (the GEMM layout)."""
    cout = w_io.shape[-1]
    flat = w_io.reshape(-1, cout)
    out = np.zeros((flat.shape[0], padded(cout)), np.float32)
    out[:, :cout] = flat
    return np.ascontiguousarray(out.reshape(flat.shape[0], -1, VEC).transpose(1, 0, 2))


def pad_channels(values: np.ndarray) -> np.ndarray:
    """Zero-pad the last axis to a multiple of 16."""
    out = np.zeros((*values.shape[:-1], padded(values.shape[-1])), np.float32)
    out[..., : values.shape[-1]] = values
    return out


def build_options(kind: str, layer: Layer) -> str:
    """Build options of a layer's kernel: taps are unrolled per kernel size (and channels)."""
    options = KERNELS[kind][2]
    if kind == "conv":
        return f"{options} -DKSIZE={layer.k} -DCIN={layer.cin}"
    return f"{options} -DKSIZE={layer.k}" if kind in ("dwconv", "dwproject") else options


@dataclass
class _Step:
    layers: tuple[int, ...]  # the layers this kernel completes
    kind: str
    kernel: object
    global_size: tuple[int, ...]


class OpenCLNetwork:
    """Forward pass of a base network on one OpenCL device; one call at a time (locked)."""

    def __init__(
        self, net: BaseNetworkFiles, runtime: Runtime | None = None, chunk: int = DEFAULT_CHUNK
    ):
        self.net, self.runtime, self.chunk = net, runtime or get_runtime(), max(1, chunk)
        topo = net.topology
        self.layers = topo.layers
        if self.layers[0].kind != "conv":  # only conv2d.cl reads the unpadded input image
            raise BaseNetworkError(
                "the OpenCL pass needs a conv layer first (this network "
                f"starts with {self.layers[0].kind})",
                net.txt_path,
                self.layers[0].line,
            )
        self._lock = threading.Lock()
        self._in_shape = (topo.height, topo.width, topo.channels)
        self._shapes = [s if len(s) == 3 else (1, 1, s[0]) for s in topo.shapes()]
        self._gap = topo.feature_layer()
        self._kept = (self._gap - 1, self._gap, len(self.layers) - 1)  # read back at the end
        self._groups = self._fuse()
        self._programs = {}
        for kind, first in ((kind, self.layers[g[0]]) for kind, g in self._groups):
            key = (KERNELS[kind][0], build_options(kind, first))
            if key not in self._programs:
                self._programs[key] = self.runtime.program(*key)
        self._weights = [self._upload_weights(layer) for layer in self.layers]
        self._buffers: list = []
        self._capacity = 0
        self._plans: dict[int, list[_Step]] = {}

    # -- structure ----------------------------------------------------------------------------
    def _fuse(self) -> list[tuple[str, tuple[int, ...]]]:
        """(kind, layers) per kernel: a depthwise conv read only by the next 1x1 conv fuses."""
        read_elsewhere = {layer.add for layer in self.layers if layer.add}
        groups, i = [], 0
        while i < len(self.layers):
            layer = self.layers[i]
            if (
                layer.kind == "dwconv"
                and i + 1 < len(self.layers)
                and self.layers[i + 1].kind == "pwconv"
                and layer.name not in read_elsewhere
                and i not in self._kept
            ):
                groups.append(("dwproject", (i, i + 1)))
                i += 2
            else:
                groups.append((layer.kind, (i,)))
                i += 1
        return groups

    def _upload_weights(self, layer: Layer):
        if not layer.has_weights:
            return None
        w, b = self.net.weights(layer)
        packed = pad_channels(w) if layer.kind == "dwconv" else pack_panels(w)
        return self.runtime.upload(packed), self.runtime.upload(pad_channels(b))

    def _slots(self) -> list[int]:
        """Activation slot of each layer's output; a slot is reused once nothing reads it."""
        names = {layer.name: i for i, layer in enumerate(self.layers)}
        last_use = list(range(1, len(self.layers) + 1))
        for kept in self._kept:
            last_use[kept] = len(self.layers)
        for _, group in self._groups:  # a fused kernel reads its input until its last layer
            if group[0]:
                last_use[group[0] - 1] = max(last_use[group[0] - 1], group[-1])
        for i, layer in enumerate(self.layers):
            if layer.add:
                last_use[names[layer.add]] = max(last_use[names[layer.add]], i)
        slots, free, live = [], [], {}
        for i in range(len(self.layers)):
            slot = free.pop() if free else len(set(slots))
            slots.append(slot)
            live[i] = slot
            for j in [j for j in live if last_use[j] <= i]:
                free.append(live.pop(j))
        return slots

    def _ensure_buffers(self, n: int) -> None:
        if self._capacity >= n:
            return
        self.close()
        self._slot_of = self._slots()
        biggest = max(math.prod(s[:2]) * padded(s[2]) for s in self._shapes) * n * 4
        self._buffers = [self.runtime.alloc(biggest) for _ in range(max(self._slot_of) + 1)]
        self._input = self.runtime.alloc(math.prod(self._in_shape) * n * 4)
        self._capacity = n

    # -- binding kernels ----------------------------------------------------------------------
    def _plan(self, n: int) -> list[_Step]:
        """Kernels with arguments bound for a chunk of `n` images."""
        if n not in self._plans:
            self._plans[n] = [self._bind(kind, group, n) for kind, group in self._groups]
        return self._plans[n]

    def _bind(self, kind: str, group: tuple[int, ...], n: int) -> _Step:
        i32 = np.int32
        first, last = group[0], group[-1]
        layer = self.layers[first]
        src = self._buffers[self._slot_of[first - 1]] if first else self._input
        ih, iw, ic = self._shapes[first - 1] if first else self._in_shape
        oh, ow, oc = self._shapes[last]
        dst = self._buffers[self._slot_of[last]]
        cp_in, cp_out = (padded(ic) if first else ic), padded(oc)
        kernel = self.runtime.cl.Kernel(
            self._programs[KERNELS[kind][0], build_options(kind, layer)], KERNELS[kind][1]
        )
        act = [i32(self.layers[g].act == "relu6") for g in group]
        residual = self.layers[last].add
        residual = self._buffers[self._slot_of[self._index(residual)]] if residual else None
        if kind in ("conv", "dwconv", "dwproject"):
            w, b = self._weights[first]
            geometry = [
                i32(oh),
                i32(ow),
                i32(layer.k),
                i32(layer.stride),
                i32(same_padding(ih, layer.k, layer.stride)[0]),
                i32(same_padding(iw, layer.k, layer.stride)[0]),
            ]
        if kind == "conv":
            kernel.set_args(
                src,
                w,
                b,
                dst,
                i32(ih),
                i32(iw),
                i32(ic),
                i32(cp_in),
                i32(oh),
                i32(ow),
                i32(cp_out),
                *geometry[2:],
                act[0],
            )
            size = (cp_out // VEC, -(-ow // CONV_PIXELS), n * oh)
        elif kind == "dwconv":
            kernel.set_args(src, w, b, dst, i32(n), i32(ih), i32(iw), i32(cp_in), *geometry, act[0])
            size = (cp_out // VEC, -(-ow // DW_PIXELS), -(-n * oh // DW_ROWS) * DW_ROWS)
        elif kind == "dwproject":
            pw, pb = self._weights[last]
            tile = self.runtime.cl.LocalMemory(GEMM_ROWS * cp_in * 4)
            kernel.set_args(
                src,
                w,
                b,
                pw,
                pb,
                residual,
                dst,
                tile,
                i32(n),
                i32(ih),
                i32(iw),
                i32(cp_in),
                *geometry,
                act[0],
                i32(self.layers[last].cin),
                i32(cp_out),
                act[1],
            )
            size = (-(-n * oh * ow // GEMM_ROWS),)
        elif kind in ("pwconv", "fc"):
            w, b = self._weights[first]
            rows = n * oh * ow
            kernel.set_args(
                src, i32(cp_in), w, b, residual, dst, i32(cp_out), i32(rows), i32(layer.cin), act[0]
            )
            size = (-(-rows // GEMM_ROWS), cp_out // VEC)
        elif kind == "gap":
            kernel.set_args(src, dst, i32(ih * iw), i32(cp_in))
            size = (cp_in // VEC, n)
        else:  # softmax
            kernel.set_args(src, dst, i32(ic), i32(cp_in))
            size = (n,)
        return _Step(group, kind, kernel, size)

    def _index(self, name: str) -> int:
        return next(i for i, layer in enumerate(self.layers) if layer.name == name)

    # -- running ------------------------------------------------------------------------------
    def forward(
        self, batch: np.ndarray, on_layer: Callable[[int, int], None] | None = None
    ) -> dict[str, np.ndarray]:
        """Run an NHWC float32 batch; same keys and shapes as `forward_reference`.

        `on_layer(done, total)` counts layer completions over all chunks (total = layers x
        chunks), called from this thread as the device finishes them; without it nothing
        waits until the results are read back.
        """
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != self._in_shape or len(x) == 0:
            raise ValueError(f"expected a batch shaped (N, {self._in_shape}), got {x.shape}")
        with self._lock:
            return self._forward(x, on_layer, self.runtime.queue)[0]

    def profile(self, batch: np.ndarray) -> list[dict]:
        """Device time of each kernel over one forward pass (debug; a profiling queue).

        One row per kernel: its layer names joined by "+", its kind ("dwproject" for a fused
        depthwise + 1x1 conv) and milliseconds summed over the chunks.
        """
        x = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            _, events = self._forward(x, None, self.runtime.profiling_queue)
        times: dict[tuple[int, ...], list] = {}
        for step, event in events:
            row = times.setdefault(step.layers, [step.kind, 0.0])
            row[1] += (event.profile.end - event.profile.start) / 1e6
        return [
            {"layer": "+".join(self.layers[i].name for i in group), "kind": kind, "ms": ms}
            for group, (kind, ms) in times.items()
        ]

    def _forward(self, x: np.ndarray, on_layer, queue):
        cl, n_total = self.runtime.cl, len(x)
        self._ensure_buffers(min(self.chunk, n_total))
        fmap = np.empty(
            (n_total, *self._shapes[self._gap - 1][:2], padded(self._shapes[self._gap - 1][2])),
            np.float32,
        )
        feats = np.empty((n_total, padded(self._shapes[self._gap][2])), np.float32)
        probs = np.empty((n_total, self._shapes[-1][2]), np.float32)
        events = []
        try:
            for start in range(0, n_total, self.chunk):
                part = slice(start, min(start + self.chunk, n_total))
                cl.enqueue_copy(queue, self._input, x[part], is_blocking=False)
                for step in self._plan(part.stop - part.start):
                    events.append(
                        (
                            step,
                            cl.enqueue_nd_range_kernel(
                                queue, step.kernel, step.global_size, KERNELS[step.kind][3]
                            ),
                        )
                    )
                for host, layer in zip((fmap, feats, probs), self._kept, strict=True):
                    cl.enqueue_copy(
                        queue, host[part], self._buffers[self._slot_of[layer]], is_blocking=False
                    )
            if on_layer is not None:
                done, total = 0, len(self.layers) * -(-n_total // self.chunk)
                for step, event in events:
                    event.wait()
                    for _ in step.layers:
                        done += 1
                        on_layer(done, total)
        finally:  # the device writes into `fmap`, `feats`, `probs`: never leave before it ends
            queue.finish()
        result = {
            "probabilities": probs,
            "features": np.ascontiguousarray(feats[:, : self._shapes[self._gap][2]]),
            "feature_map": np.ascontiguousarray(fmap[..., : self._shapes[self._gap - 1][2]]),
        }
        return result, events

    def close(self) -> None:
        """Give the activation buffers back to the runtime's pool."""
        for buffer in self._buffers + ([self._input] if self._buffers else []):
            self.runtime.free(buffer)
        self._buffers, self._capacity, self._plans = [], 0, {}
