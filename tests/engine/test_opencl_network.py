"""The OpenCL forward pass against the numpy reference, on the real device and real photos.

A small random network with awkward shapes is run whole and in chunks too; the ONNX export is
checked against the same reference.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from neuralpatch.engine.errors import BaseNetworkError
from neuralpatch.engine.opencl_network import OpenCLNetwork
from neuralpatch.engine.preprocess import to_input
from neuralpatch.engine.reference import forward_reference
from neuralpatch.engine.topology import BaseNetworkFiles, Layer, Topology

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"
SAMPLE_PHOTOS = ("n02121808_101.jpg", "n02124623_206.jpg")


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
