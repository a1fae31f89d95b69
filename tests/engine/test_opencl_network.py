"""The OpenCL forward pass against the numpy reference, on the real device and real photos.

Each kernel is also checked alone against numpy on random data with awkward shapes (sizes
that are not multiples of the tiles, stride 2 on odd sizes, 5x5 taps, padded channels).
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from neuralpatch.engine import opencl_programs, opencl_runtime
from neuralpatch.engine.base_network import default_base_path
from neuralpatch.engine.errors import BaseNetworkError, DeviceError, KernelBuildError
from neuralpatch.engine.opencl_kernels import (
    KERNELS,
    Tiles,
    build_options,
    local_size,
    pack_panels,
    pad_channels,
    padded,
)
from neuralpatch.engine.opencl_network import OpenCLNetwork
from neuralpatch.engine.opencl_runtime import get_runtime, select_device
from neuralpatch.engine.preprocess import to_input
from neuralpatch.engine.reference import forward_reference, same_padding
from neuralpatch.engine.topology import BaseNetworkFiles, Layer, Topology, load_topology_files

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"
SAMPLE_PHOTOS = ("n02121808_101.jpg", "n02124623_206.jpg")
TILES = Tiles()
GEMM_ROWS, DW_PIXELS, CONV_PIXELS = TILES.gemm_rows, TILES.dw_pixels, TILES.conv_pixels
i32 = np.int32


@pytest.fixture(scope="module")
def runtime():
    return get_runtime()


@pytest.fixture(scope="module")
def files() -> BaseNetworkFiles:
    return load_topology_files(default_base_path())


@pytest.fixture(scope="module")
def network(files, runtime) -> OpenCLNetwork:
    return OpenCLNetwork(files, runtime)


@pytest.fixture(scope="module")
def photos(files) -> np.ndarray:
    images = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut()]
    images += [np.asarray(Image.open(SAMPLE_DATA / name).convert("RGB")) for name in SAMPLE_PHOTOS]
    return to_input(images, files.topology)


@pytest.fixture(scope="module")
def reference(files, photos) -> dict[str, np.ndarray]:
    return forward_reference(files, photos)


def assert_matches_reference(out: dict, ref: dict) -> None:
    assert set(out) == set(ref)
    for key in ref:
        assert out[key].shape == ref[key].shape and out[key].dtype == np.float32, key
    np.testing.assert_allclose(out["probabilities"], ref["probabilities"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(out["features"], ref["features"], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(out["feature_map"], ref["feature_map"], rtol=1e-3, atol=1e-3)


# -- the whole network on real photos ---------------------------------------------------------


def test_batch_matches_reference_on_real_photos(network, photos, reference):
    out = network.forward(photos)  # 5 images: two chunks of the default 4
    assert_matches_reference(out, reference)
    top = out["probabilities"].argmax(axis=1)
    assert top[1] == 967  # coffee(): espresso
    assert top[0] in (281, 282, 285)  # chelsea(): tabby, tiger cat or Egyptian cat


def test_batch_of_one_and_three_equal_the_per_image_results(network, photos):
    singles = [network.forward(photos[i : i + 1]) for i in range(3)]
    three = network.forward(photos[:3])
    for key in three:
        stacked = np.concatenate([s[key] for s in singles])
        np.testing.assert_allclose(three[key], stacked, rtol=0, atol=1e-6)


def test_on_layer_reports_every_layer_in_order(network, photos):
    calls: list[tuple[int, int]] = []
    network.forward(photos[:1], on_layer=lambda done, total: calls.append((done, total)))
    total = len(network.layers)
    assert [done for done, _ in calls] == list(range(1, total + 1))
    assert {t for _, t in calls} == {total}


def test_forward_from_worker_threads(network, photos, reference):
    results: dict[int, dict] = {}

    def work(i: int) -> None:
        results[i] = network.forward(photos[i : i + 1])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(2):
        np.testing.assert_allclose(
            results[i]["probabilities"], reference["probabilities"][i : i + 1], atol=1e-4
        )


def test_wrong_input_shape_is_refused(network):
    with pytest.raises(ValueError, match="expected a batch"):
        network.forward(np.zeros((1, 32, 32, 3), np.float32))


# -- a small random network with awkward shapes, whole and chunked ----------------------------


def random_network(rng: np.random.Generator) -> BaseNetworkFiles:
    specs = [  # kind, name, cin, cout, k, stride, act, add
        ("conv", "stem", 3, 20, 3, 2, "relu6", None),
        ("pwconv", "a.expand", 20, 37, 1, 1, "relu6", None),
        ("dwconv", "a.dw", 37, 37, 5, 2, "relu6", None),
        ("pwconv", "a.project", 37, 19, 1, 1, "none", None),
        ("pwconv", "b.expand", 19, 40, 1, 1, "relu6", None),
        ("dwconv", "b.dw", 40, 40, 3, 1, "relu6", None),
        ("pwconv", "b.project", 40, 19, 1, 1, "none", "a.project"),
        ("dwconv", "c.dw", 19, 19, 3, 2, "relu6", None),  # feeds the pool: not fused
        ("gap", "pool", 0, 0, 1, 1, "none", None),
        ("fc", "fc", 19, 23, 1, 1, "none", None),
        ("softmax", "prob", 0, 0, 1, 1, "none", None),
    ]
    layers, chunks, offset = [], [], 0
    for kind, name, cin, cout, k, stride, act, add in specs:
        layer = Layer(kind, name, cin, cout, k, stride, act, add)
        size = math.prod(layer.weight_shape()) if layer.has_weights else 0
        layer = replace(layer, weight=offset, bias=offset + size)
        if layer.has_weights:
            fan_in = size // cout if kind != "dwconv" else k * k
            chunks += [rng.normal(0, 1 / math.sqrt(fan_in), size), rng.normal(0, 0.3, cout)]
            offset += size + cout
        layers.append(layer)
    topo = Topology("odd", 15, 13, 3, 0.0, 1.0, layers)
    data = np.concatenate(chunks).astype(np.float32)
    return BaseNetworkFiles(Path("odd.txt"), topo, data, "odd")


def test_random_odd_network_matches_reference_in_chunks(runtime):
    rng = np.random.default_rng(7)
    net = random_network(rng)
    batch = rng.normal(0, 1, (5, 15, 13, 3)).astype(np.float32)
    ref = forward_reference(net, batch)
    calls: list[int] = []
    out = OpenCLNetwork(net, runtime, chunk=2).forward(batch, lambda d, t: calls.append(t))
    for key in ref:
        np.testing.assert_allclose(out[key], ref[key], rtol=1e-4, atol=1e-5, err_msg=key)
    assert calls[-1] == len(net.topology.layers) * 3  # three chunks of 2, 2, 1


def test_a_network_not_starting_with_a_conv_is_refused(runtime):
    net = random_network(np.random.default_rng(7))
    layers = [replace(net.topology.layers[2], cin=3, cout=3, line=4)]  # a depthwise conv first
    headless = replace(net, topology=replace(net.topology, layers=layers))
    with pytest.raises(BaseNetworkError, match="needs a conv layer first") as info:
        OpenCLNetwork(headless, runtime)
    assert info.value.path == Path("odd.txt") and info.value.line == 4


# -- each kernel alone against numpy ----------------------------------------------------------


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


def test_kernel_table_lists_each_kernels_parameters_in_order():
    """The named arguments next to the table are the `.cl` signature, in the same order."""
    for spec in KERNELS.values():
        source = opencl_programs.kernel_source(spec.file)
        signature = re.search(rf"__kernel void {spec.name}\s*\(([^)]*)\)", source)[1]
        names = tuple(re.findall(r"(\w+)\s*(?:,|$)", signature.strip()))
        assert names == spec.args, spec.file


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


# -- the runtime: device choice, errors, caches ------------------------------------------------


def test_device_chosen_by_env_substring(monkeypatch, runtime):
    name = runtime.device.name.strip()
    monkeypatch.setenv(opencl_runtime.DEVICE_ENV, name[-4:].swapcase())
    assert get_runtime() is runtime
    monkeypatch.setenv(opencl_runtime.DEVICE_ENV, "0:0")
    assert select_device() == (0, 0)


@pytest.mark.parametrize("spec", ["no-such-device-xyz", "7:3"])
def test_bad_device_spec_raises_device_error(monkeypatch, spec):
    with pytest.raises(DeviceError, match="available"):
        get_runtime(spec)
    monkeypatch.setenv(opencl_runtime.DEVICE_ENV, spec)
    with pytest.raises(DeviceError):
        select_device()


def test_build_error_names_the_file_and_line(runtime, monkeypatch):
    source = "__kernel void broken(__global float *x)\n{\n    x[0] = y;\n}\n"
    real = opencl_programs.kernel_source
    monkeypatch.setattr(
        opencl_programs, "kernel_source", lambda name: source if name == "broken.cl" else real(name)
    )
    with pytest.raises(KernelBuildError) as info:
        runtime.program("broken.cl")
    assert info.value.path.name == "broken.cl" and info.value.line == 3
    assert "undeclared identifier" in str(info.value)


def test_describe_reports_device_and_caches(runtime, network):
    facts = runtime.describe()
    assert facts["compute_units"] >= 1 and facts["device"]
    assert Path(facts["cache_dir"]).is_dir()
    assert facts["cache_state"].split()[0] in ("warm", "cold", "mixed")
    assert {b["file"] for b in facts["builds"]} >= {spec.file for spec in KERNELS.values()}


# -- the ONNX export (used by the benchmark and `base export-onnx`) ---------------------------


def test_onnx_export_matches_reference(photos, reference, tmp_path):
    import onnxruntime

    from neuralpatch.main import main

    path = tmp_path / "base.onnx"
    assert main(["base", "export-onnx", str(path)]) == 0
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = ["probabilities", "features", "feature_map"]
    out = dict(zip(names, session.run(names, {"input": photos[:2]}), strict=True))
    assert_matches_reference(out, {k: v[:2] for k, v in reference.items()})
