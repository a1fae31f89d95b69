"""Each OpenCL kernel alone against numpy on random data with awkward shapes (sizes that are
not multiples of the tiles, stride 2 on odd sizes, 5x5 taps, padded channels)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuralpatch.engine.opencl_kernels import (
    KERNELS,
    Tiles,
    build_options,
    local_size,
    pack_panels,
    pad_channels,
    padded,
)
from neuralpatch.engine.reference import same_padding

TILES = Tiles()
GEMM_ROWS, DW_PIXELS, CONV_PIXELS = TILES.gemm_rows, TILES.dw_pixels, TILES.conv_pixels
i32 = np.int32


def launch(
    runtime, kind: str, global_size, args: dict, out: str, out_shape, options: str = ""
) -> np.ndarray:
    """Upload array arguments, run one kernel (arguments by name), read back argument `out`."""
    spec, local = KERNELS[kind], local_size(kind, TILES)
    options = f"{build_options(kind, TILES)} {options}".strip()
    kernel = runtime.cl.Kernel(runtime.program(spec.file, options), spec.name)
    bound = {
        name: runtime.upload(np.ascontiguousarray(a, np.float32))
        if isinstance(a, np.ndarray)
        else a
        for name, a in args.items()
    }
    kernel.set_args(*(bound[name] for name in spec.args))
    global_size = tuple(-(-g // s) * s for g, s in zip(global_size, local, strict=True))
    runtime.cl.enqueue_nd_range_kernel(runtime.queue, kernel, global_size, local)
    result = np.empty(out_shape, np.float32)
    runtime.cl.enqueue_copy(runtime.queue, result, bound[out], is_blocking=True)
    for buffer in bound.values():
        if isinstance(buffer, runtime.cl.Buffer):
            runtime.free(buffer)
    return result


def relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 6)


@pytest.mark.parametrize(
    ("m", "k", "n", "lda", "act", "add"),
    [
        (37, 19, 23, 21, True, True),
        (37, 19, 23, 19, False, False),
        (1, 40, 16, 48, False, False),
        (GEMM_ROWS * 3, 5, 33, 5, True, False),
    ],
)
@pytest.mark.parametrize("cols", [1, 2, 8])
def test_pointwise_conv_kernel(runtime, m, k, n, lda, act, add, cols):
    rng = np.random.default_rng(m * k + n)
    a = rng.normal(0, 1, (m, lda)).astype(np.float32)
    w = rng.normal(0, 1, (k, n)).astype(np.float32)
    b = rng.normal(0, 1, n).astype(np.float32)
    np_ = padded(n)
    res = pad_channels(rng.normal(0, 1, (m, n)).astype(np.float32)) if add else None
    out = launch(
        runtime,
        "pwconv",
        (-(-m // GEMM_ROWS), -(-np_ // 16 // cols)),
        {
            "in": a,
            "lda": i32(lda),
            "w": pack_panels(w),
            "bias": pad_channels(b),
            "residual": res,
            "out": np.full((m, np_), np.nan, np.float32),
            "ldc": i32(np_),
            "M": i32(m),
            "K": i32(k),
            "relu6": i32(act),
            "cols": i32(cols),
        },
        "out",
        (m, np_),
    )
    want = a[:, :k] @ w + b + (res[:, :n] if add else 0)
    want = relu6(want) if act else want
    np.testing.assert_allclose(out[:, :n], want, rtol=1e-5, atol=1e-4)
    assert not out[:, n:].any()  # padded channels stay zero


def numpy_conv(x, w, b, stride, depthwise):
    k = w.shape[0]
    oh, ow = math.ceil(x.shape[1] / stride), math.ceil(x.shape[2] / stride)
    xp = np.pad(
        x,
        ((0, 0), same_padding(x.shape[1], k, stride), same_padding(x.shape[2], k, stride), (0, 0)),
    )
    y = np.zeros((x.shape[0], oh, ow, w.shape[-1]), np.float64)
    for dy in range(k):
        for dx in range(k):
            view = xp[:, dy : dy + stride * oh : stride, dx : dx + stride * ow : stride]
            y += view * w[dy, dx] if depthwise else view @ w[dy, dx]
    return (y + b).astype(np.float32)


@pytest.mark.parametrize(
    ("h", "w", "c", "k", "stride", "act", "n"),
    [
        (13, 11, 40, 5, 2, True, 2),
        (9, 10, 16, 3, 1, False, 3),
        (7, 7, 48, 5, 1, True, 1),
        (12, 2 * DW_PIXELS + 3, 32, 3, 2, True, 1),
    ],
)
def test_depthwise_conv_kernel(runtime, h, w, c, k, stride, act, n):
    rng = np.random.default_rng(h * w + c)
    x = rng.normal(0, 1, (n, h, w, c)).astype(np.float32)
    wt = rng.normal(0, 1, (k, k, c)).astype(np.float32)
    b = rng.normal(0, 1, c).astype(np.float32)
    oh, ow, cp = math.ceil(h / stride), math.ceil(w / stride), padded(c)
    pt, pl = same_padding(h, k, stride)[0], same_padding(w, k, stride)[0]
    for options in ("", f"-DKSIZE={k}"):  # runtime taps and unrolled taps
        out = launch(
            runtime,
            "dwconv",
            (cp // 16, -(-ow // DW_PIXELS), n * oh),
            {
                "in": pad_channels(x),
                "w": pad_channels(wt),
                "bias": pad_channels(b),
                "out": np.zeros((n, oh, ow, cp), np.float32),
                "N": i32(n),
                "H": i32(h),
                "W": i32(w),
                "C": i32(cp),
                "OH": i32(oh),
                "OW": i32(ow),
                "K": i32(k),
                "stride": i32(stride),
                "pad_top": i32(pt),
                "pad_left": i32(pl),
                "relu6": i32(act),
            },
            "out",
            (n, oh, ow, cp),
            options,
        )
        want = numpy_conv(x, wt, b, stride, depthwise=True)
        np.testing.assert_allclose(
            out[..., :c], relu6(want) if act else want, rtol=1e-5, atol=1e-4, err_msg=options
        )


@pytest.mark.parametrize(
    ("h", "w", "cin", "in_stride", "cout", "k", "stride", "act"),
    [
        (9, 7, 3, 3, 20, 3, 2, True),
        (6, 5, 5, 16, 16, 5, 1, False),
        (11, 11, 3, 3, 32, 3, 2, True),
        (24, 2 * CONV_PIXELS * 2 + 9, 3, 3, 17, 3, 2, True),
    ],
)
def test_conv2d_kernel(runtime, h, w, cin, in_stride, cout, k, stride, act):
    rng = np.random.default_rng(h * cin + cout)
    n = 2
    x = rng.normal(0, 1, (n, h, w, cin)).astype(np.float32)
    x_in = np.zeros((n, h, w, in_stride), np.float32)
    x_in[..., :cin] = x
    wt = rng.normal(0, 1, (k, k, cin, cout)).astype(np.float32)
    b = rng.normal(0, 1, cout).astype(np.float32)
    oh, ow, cp = math.ceil(h / stride), math.ceil(w / stride), padded(cout)
    pt, pl = same_padding(h, k, stride)[0], same_padding(w, k, stride)[0]
    want = numpy_conv(x, wt, b, stride, depthwise=False)
    for options in ("", f"-DKSIZE={k} -DCIN={cin}"):  # runtime taps and unrolled taps
        out = launch(
            runtime,
            "conv",
            (cp // 16, -(-ow // CONV_PIXELS), n * oh),
            {
                "in": x_in,
                "w": pack_panels(wt),
                "bias": pad_channels(b),
                "out": np.zeros((n, oh, ow, cp), np.float32),
                "H": i32(h),
                "W": i32(w),
                "cin": i32(cin),
                "in_stride": i32(in_stride),
                "OH": i32(oh),
                "OW": i32(ow),
                "out_stride": i32(cp),
                "K": i32(k),
                "stride": i32(stride),
                "pad_top": i32(pt),
                "pad_left": i32(pl),
                "relu6": i32(act),
            },
            "out",
            (n, oh, ow, cp),
            options,
        )
        np.testing.assert_allclose(
            out[..., :cout], relu6(want) if act else want, rtol=1e-5, atol=1e-4, err_msg=options
        )


@pytest.mark.parametrize(
    ("h", "w", "c", "k", "stride", "cout", "add", "n"),
    [(9, 11, 40, 5, 2, 23, False, 2), (7, 6, 37, 3, 1, 16, True, 1), (5, 5, 96, 3, 1, 40, True, 3)],
)
def test_depthwise_project_conv_kernel(runtime, h, w, c, k, stride, cout, add, n):
    rng = np.random.default_rng(h * c + cout)
    x = rng.normal(0, 1, (n, h, w, c)).astype(np.float32)
    dw_w = rng.normal(0, 0.5, (k, k, c)).astype(np.float32)
    dw_b = rng.normal(0, 1, c).astype(np.float32)
    pw_w = rng.normal(0, 0.3, (c, cout)).astype(np.float32)
    pw_b = rng.normal(0, 1, cout).astype(np.float32)
    oh, ow, cp, op = math.ceil(h / stride), math.ceil(w / stride), padded(c), padded(cout)
    m = n * oh * ow
    pt, pl = same_padding(h, k, stride)[0], same_padding(w, k, stride)[0]
    res = pad_channels(rng.normal(0, 1, (m, cout)).astype(np.float32)) if add else None
    out = launch(
        runtime,
        "dwproject",
        (-(-m // GEMM_ROWS),),
        {
            "in": pad_channels(x),
            "dw_w": pad_channels(dw_w),
            "dw_b": pad_channels(dw_b),
            "pw_w": pack_panels(pw_w),
            "pw_b": pad_channels(pw_b),
            "residual": res,
            "out": np.zeros((m, op), np.float32),
            "tile": runtime.cl.LocalMemory(GEMM_ROWS * cp * 4),
            "N": i32(n),
            "H": i32(h),
            "W": i32(w),
            "C": i32(cp),
            "OH": i32(oh),
            "OW": i32(ow),
            "K": i32(k),
            "stride": i32(stride),
            "pad_top": i32(pt),
            "pad_left": i32(pl),
            "dw_relu6": i32(1),
            "cin": i32(c),
            "ldc": i32(op),
            "relu6": i32(0),
        },
        "out",
        (m, op),
        f"-DKSIZE={k}",
    )
    mid = relu6(numpy_conv(x, dw_w, dw_b, stride, depthwise=True)).reshape(m, c)
    want = mid @ pw_w + pw_b + (res[:, :cout] if add else 0)
    np.testing.assert_allclose(out[:, :cout], want, rtol=1e-4, atol=1e-4)
    assert not out[:, cout:].any()


def test_global_average_pool_kernel(runtime):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (3, 5, 3, 48)).astype(np.float32)
    out = launch(
        runtime,
        "gap",
        (3, 3),
        {"in": x, "out": np.zeros((3, 48), np.float32), "HW": i32(15), "C": i32(48)},
        "out",
        (3, 48),
    )
    np.testing.assert_allclose(out, x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_softmax_kernel(runtime):
    rng = np.random.default_rng(4)
    logits = pad_channels(rng.normal(0, 20, (4, 37)).astype(np.float32))  # large: needs max
    out = launch(
        runtime,
        "softmax",
        (4,),
        {"in": logits, "out": np.zeros((4, 37), np.float32), "classes": i32(37), "ld": i32(48)},
        "out",
        (4, 37),
    )
    e = np.exp(logits[:, :37] - logits[:, :37].max(axis=1, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
