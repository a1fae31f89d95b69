"""The base network's forward pass on an OpenCL device (the fast twin of `reference.py`).

Weights are packed for the kernels and uploaded once. Activations are NHWC with channels
padded to a multiple of 16 (the padded channels hold zeros), so every kernel works on whole
`chan16` vectors (16 float32 channels). A depthwise conv whose output only feeds the next 1x1
conv runs fused with it (`depthwise_project_conv.cl`), so the expanded map is written once,
not three times (see `opencl_plan.py`). A batch runs in chunks of `chunk` images that go
through all layers while their activations are still in the CPU cache; chunks reuse the same
buffers. Kernel arguments are bound once per chunk size: a pass is enqueues and one wait.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neuralpatch.engine.errors import BaseNetworkError
from neuralpatch.engine.opencl_kernels import (
    KERNELS,
    VEC,
    Tiles,
    bind,
    build_options,
    local_size,
    pack_panels,
    pad_channels,
    padded,
    tiles_for,
)
from neuralpatch.engine.opencl_plan import activation_slots, fuse_layers
from neuralpatch.engine.opencl_runtime import Runtime, get_runtime
from neuralpatch.engine.reference import same_padding
from neuralpatch.engine.topology import BaseNetworkFiles, Layer


@dataclass
class _Step:
    layers: tuple[int, ...]  # the layers this kernel completes
    kind: str
    kernel: object
    global_size: tuple[int, ...]
    local_size: tuple[int, ...]
    flops: int  # of the whole chunk


class OpenCLNetwork:
    """Forward pass of a base network on one OpenCL device; one call at a time (locked)."""

    def __init__(
        self,
        net: BaseNetworkFiles,
        runtime: Runtime | None = None,
        chunk: int | None = None,
        tiles: Tiles | None = None,
        on_build: Callable[[int, int, str], None] | None = None,
    ):
        """`on_build(done, total, file)` reports each kernel program as it is built."""
        self.net, self.runtime = net, runtime or get_runtime()
        self.tiles = tiles or tiles_for(self.runtime.device.native_vector_width_float)
        self.chunk = max(1, chunk or self.tiles.chunk)
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
        self._groups = fuse_layers(self.layers, self._kept)
        self._programs: dict[tuple[str, str], object] = {}
        wanted = {self._program_key(kind, self.layers[g[0]], 0) for kind, g in self._groups}
        for done, key in enumerate(sorted(wanted)):
            if on_build:
                on_build(done, len(wanted), key[0])
            self._program(key)
        if on_build:
            on_build(len(wanted), len(wanted), "programs")
        self._weights = [self._upload_weights(layer) for layer in self.layers]
        self._buffers: list = []
        self._capacity = 0
        self._plans: dict[int, list[_Step]] = {}

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one input image."""
        return self._in_shape

    def _program_key(self, kind: str, layer: Layer, images: int) -> tuple[str, str]:
        rows = self.tiles.fc_rows(images) if kind == "fc" and images else 0
        return KERNELS[kind].file, build_options(kind, self.tiles, layer, rows)

    def _program(self, key: tuple[str, str]):
        if key not in self._programs:
            self._programs[key] = self.runtime.program(*key)
        return self._programs[key]

    # -- weights and buffers -----------------------------------------------------------------
    def _upload_weights(self, layer: Layer):
        if not layer.has_weights:
            return None
        w, b = self.net.weights(layer)
        packed = pad_channels(w) if layer.kind == "dwconv" else pack_panels(w)
        return self.runtime.upload(packed), self.runtime.upload(pad_channels(b))

    def _ensure_buffers(self, n: int) -> None:
        if self._capacity >= n:
            return
        self.close()
        self._slot_of = activation_slots(self.layers, self._groups, self._kept)
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
        i32, tiles = np.int32, self.tiles
        first, last = group[0], group[-1]
        layer = self.layers[first]
        ih, iw, ic = self._shapes[first - 1] if first else self._in_shape
        oh, ow, oc = self._shapes[last]
        cp_in, cp_out = (padded(ic) if first else ic), padded(oc)
        residual = self.layers[last].add
        args: dict[str, object] = {
            "in": self._buffers[self._slot_of[first - 1]] if first else self._input,
            "out": self._buffers[self._slot_of[last]],
        }
        if layer.has_weights:
            args["w"], args["bias"] = self._weights[first]
        if kind in ("conv", "dwconv", "dwproject"):
            args |= {
                "N": i32(n),
                "H": i32(ih),
                "W": i32(iw),
                "OH": i32(oh),
                "OW": i32(ow),
                "K": i32(layer.k),
                "stride": i32(layer.stride),
                "pad_top": i32(same_padding(ih, layer.k, layer.stride)[0]),
                "pad_left": i32(same_padding(iw, layer.k, layer.stride)[0]),
                "relu6": i32(layer.act == "relu6"),
            }
        if kind in ("dwproject", "pwconv", "fc"):
            args["residual"] = (
                self._buffers[self._slot_of[self._index(residual)]] if residual else None
            )
        if kind == "conv":
            del args["N"]
            args |= {"cin": i32(ic), "in_stride": i32(cp_in), "out_stride": i32(cp_out)}
            size = (cp_out // VEC, -(-ow // tiles.conv_pixels), n * oh)
        elif kind == "dwconv":
            args["C"] = i32(cp_in)
            rows = -(-n * oh // tiles.dw_rows) * tiles.dw_rows
            size = (cp_out // VEC, -(-ow // tiles.dw_pixels), rows)
        elif kind == "dwproject":
            args["dw_w"], args["dw_b"] = args.pop("w"), args.pop("bias")
            args["pw_w"], args["pw_b"] = self._weights[last]
            args |= {
                "tile": self.runtime.cl.LocalMemory(tiles.gemm_rows * cp_in * 4),
                "C": i32(cp_in),
                "dw_relu6": args["relu6"],
                "cin": i32(self.layers[last].cin),
                "ldc": i32(cp_out),
                "relu6": i32(self.layers[last].act == "relu6"),
            }
            size = (-(-n * oh * ow // tiles.gemm_rows),)
        elif kind in ("pwconv", "fc"):
            rows = n * oh * ow
            tm = tiles.fc_rows(n) if kind == "fc" else tiles.gemm_rows
            cols = min(tiles.gemm_cols, cp_out // VEC) if kind == "pwconv" else 1
            args |= {
                "lda": i32(cp_in),
                "ldc": i32(cp_out),
                "M": i32(rows),
                "K": i32(layer.cin),
                "relu6": i32(layer.act == "relu6"),
                "cols": i32(cols),
            }
            size = (-(-rows // tm), -(-cp_out // VEC // cols))
        elif kind == "gap":
            args |= {"HW": i32(ih * iw), "C": i32(cp_in)}
            size = (cp_in // VEC, n)
        else:  # softmax
            args |= {"classes": i32(ic), "ld": i32(cp_in)}
            size = (n,)
        program = self._program(self._program_key(kind, layer, n))
        kernel = self.runtime.cl.Kernel(program, KERNELS[kind].name)
        bind(kernel, kind, args)
        return _Step(group, kind, kernel, size, local_size(kind, tiles), self._flops(group) * n)

    def _flops(self, group: tuple[int, ...]) -> int:
        """FLOPs (2 per multiply-add) of one image through the layers of a kernel."""
        total = 0
        for i in group:
            layer = self.layers[i]
            if layer.has_weights:
                total += 2 * math.prod(self._shapes[i][:2]) * math.prod(layer.weight_shape())
        return total

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
        """Device time of each kernel over one forward pass (a profiling queue).

        One row per kernel: `layer` (its layer names joined by "+"), `kind` ("dwproject" for a
        fused depthwise + 1x1 conv), `ms` summed over the chunks and `flops` of the whole batch.
        Rows follow the kernels' order; `launches` counts every enqueue.
        """
        x = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            _, events = self._forward(x, None, self.runtime.profiling_queue)
        rows: dict[tuple[int, ...], dict] = {}
        for step, event in events:
            name = "+".join(self.layers[i].name for i in step.layers)
            row = rows.setdefault(
                step.layers, {"layer": name, "kind": step.kind, "ms": 0.0, "flops": 0}
            )
            row["ms"] += (event.profile.end - event.profile.start) / 1e6
            row["flops"] += step.flops
        return list(rows.values())

    def _forward(self, x: np.ndarray, on_layer, queue):
        cl, n_total = self.runtime.cl, len(x)
        self._ensure_buffers(min(self.chunk, n_total))
        sizes = {min(self.chunk, n_total - s) for s in range(0, n_total, self.chunk)}
        first_launch = bool(sizes - set(self._plans))
        fmap_h, fmap_w, fmap_c = self._shapes[self._gap - 1]
        fmap = np.empty((n_total, fmap_h, fmap_w, padded(fmap_c)), np.float32)
        feats = np.empty((n_total, padded(self._shapes[self._gap][2])), np.float32)
        probs = np.empty((n_total, self._shapes[-1][2]), np.float32)
        events = []
        try:
            for start in range(0, n_total, self.chunk):
                part = slice(start, min(start + self.chunk, n_total))
                cl.enqueue_copy(queue, self._input, x[part], is_blocking=False)
                for step in self._plan(part.stop - part.start):
                    run = cl.enqueue_nd_range_kernel
                    events.append(
                        (step, run(queue, step.kernel, step.global_size, step.local_size))
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
        if first_launch:  # PoCL has compiled new work-group functions into its cache
            self.runtime.record_kernel_cache()
        result = {
            "probabilities": probs,
            "features": np.ascontiguousarray(feats[:, : self._shapes[self._gap][2]]),
            "feature_map": np.ascontiguousarray(fmap[..., :fmap_c]),
        }
        return result, events

    def close(self) -> None:
        """Give the activation buffers back to the runtime's pool."""
        for buffer in self._buffers + ([self._input] if self._buffers else []):
            self.runtime.free(buffer)
        self._buffers, self._capacity, self._plans = [], 0, {}
