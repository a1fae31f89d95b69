"""The kernel table: which `.cl` file computes each layer kind, its named arguments, its build
options and work-group size, and the tile sizes chosen per device.

Arguments are bound by name (`bind`) in the order the table lists them, which is the order of
the kernel's parameters in its `.cl` file (a test checks the two agree), so no call site has to
know the position of an argument.

Work-group sizes are fixed per kind: PoCL compiles (and caches) a kernel once per work-group
size, so letting it choose per launch shape would mean dozens of compiles on a cold start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from neuralpatch.engine.topology import Layer

VEC = 16  # channels per chan16 vector; activation channels are padded to this
GEMM_ROWS_ENV = "NEURALPATCH_GEMM_ROWS"  # overrides the 1x1-conv register tile (measuring)


@dataclass(frozen=True)
class KernelSpec:
    file: str
    name: str
    args: tuple[str, ...]  # the kernel's parameters, in the `.cl` file's order


_GEOMETRY = ("OH", "OW", "K", "stride", "pad_top", "pad_left")
KERNELS = {
    "conv": KernelSpec(
        "conv2d.cl",
        "conv2d",
        ("in", "w", "bias", "out", "H", "W", "cin", "in_stride", "OH", "OW", "out_stride")
        + ("K", "stride", "pad_top", "pad_left", "relu6"),
    ),
    "dwconv": KernelSpec(
        "depthwise_conv.cl",
        "depthwise_conv",
        ("in", "w", "bias", "out", "N", "H", "W", "C", *_GEOMETRY, "relu6"),
    ),
    "dwproject": KernelSpec(
        "depthwise_project_conv.cl",
        "depthwise_project_conv",
        ("in", "dw_w", "dw_b", "pw_w", "pw_b", "residual", "out", "tile", "N", "H", "W", "C")
        + (*_GEOMETRY, "dw_relu6", "cin", "ldc", "relu6"),
    ),
    "pwconv": KernelSpec(
        "pointwise_conv.cl",
        "pointwise_conv",
        ("in", "lda", "w", "bias", "residual", "out", "ldc", "M", "K", "relu6", "cols"),
    ),
    "gap": KernelSpec("global_average_pool.cl", "global_average_pool", ("in", "out", "HW", "C")),
    "softmax": KernelSpec("softmax.cl", "softmax", ("in", "out", "classes", "ld")),
}
KERNELS["fc"] = KERNELS["pwconv"]  # the fully connected layer is a 1x1 conv of one pixel


@dataclass(frozen=True)
class Tiles:
    """Register tiles, work-group shape and chunk size of the forward pass."""

    gemm_rows: int = 6  # rows (pixels) per work-item in the 1x1 convs (TM in the .cl files)
    dw_pixels: int = 7  # output pixels per work-item in depthwise_conv.cl (OWT)
    dw_rows: int = 7  # output rows per depthwise work-group
    conv_pixels: int = 7  # output pixels per work-item in conv2d.cl (OWT)
    chunk: int = 4  # images that go through all layers together (see docs/performance.md)
    fc_one_row: bool = True  # a chunk of one image runs the FC with a one-row tile
    gemm_cols: int = 8  # 16-wide column panels per 1x1-conv work-item (the FC's: 1)

    def fc_rows(self, images: int) -> int:
        """The FC's register tile: a chunk of one image computes one row, not `gemm_rows`."""
        return 1 if images == 1 and self.fc_one_row else self.gemm_rows


def tiles_for(native_float_width: int) -> Tiles:
    """Tiles for a device whose native float vector holds `native_float_width` lanes.

    A 1x1-conv work-item keeps `gemm_rows` chan16 running sums, i.e. gemm_rows * 16 / width
    registers. Twelve fill the FMA pipes and leave room for the weight panel and the
    broadcast in AVX2's 16 registers (6 rows; 4 and 8 were slower, see docs/performance.md);
    AVX-512's 32 registers hold 12 rows of one register each.
    """
    override = os.environ.get(GEMM_ROWS_ENV, "").strip()
    if override.isdigit() and int(override) > 0:
        return Tiles(gemm_rows=int(override))
    width = max(1, native_float_width)
    return Tiles(gemm_rows=max(1, min(12, 12 * width // VEC)))


def build_options(kind: str, tiles: Tiles, layer: Layer | None = None, rows: int = 0) -> str:
    """Build options of a layer's kernel: tiles, and taps unrolled per kernel size (and cin)."""
    if kind == "conv":
        options = f"-DOWT={tiles.conv_pixels}"
        return f"{options} -DKSIZE={layer.k} -DCIN={layer.cin}" if layer else options
    if kind == "dwconv":
        options = f"-DOWT={tiles.dw_pixels}"
        return f"{options} -DKSIZE={layer.k}" if layer else options
    if kind == "dwproject":
        options = f"-DTM={tiles.gemm_rows}"
        return f"{options} -DKSIZE={layer.k}" if layer else options
    if kind in ("pwconv", "fc"):
        return f"-DTM={rows or tiles.gemm_rows}"
    return ""


def local_size(kind: str, tiles: Tiles) -> tuple[int, ...]:
    """The fixed work-group size of a kind (global sizes are rounded up to it)."""
    return {
        "conv": (1, 1, 1),
        "dwconv": (1, 1, tiles.dw_rows),
        "dwproject": (1,),
        "pwconv": (1, 1),
        "fc": (1, 1),
        "gap": (1, 1),
        "softmax": (1,),
    }[kind]


def bind(kernel, kind: str, values: dict[str, object]) -> None:
    """Set a kernel's arguments by name; every parameter must be given, and nothing else."""
    names = KERNELS[kind].args
    if set(values) != set(names):
        missing, extra = set(names) - set(values), set(values) - set(names)
        raise TypeError(f"{kind} arguments: missing {sorted(missing)}, unknown {sorted(extra)}")
    kernel.set_args(*(values[name] for name in names))


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
