"""The base network as an ONNX graph, built from our topology and weights.

Serves `neuralpatch base export-onnx` and the benchmark (onnxruntime running the same
weights). The graph takes the same NHWC float32 input as `forward_reference` (batch size free)
and has its three outputs:
`probabilities` (N, classes), `features` (N, C) and `feature_map` (N, h, w, C), NHWC. Inside
it is NCHW, as ONNX convolutions are; TensorFlow SAME padding becomes explicit pads (the
extra pixel after), so results match the reference to float rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.errors import MissingPackageError
from neuralpatch.engine.reference import same_padding
from neuralpatch.engine.topology import BaseNetworkFiles

OPSET = 17


def _onnx():
    try:
        import onnx
    except ImportError as exc:
        raise MissingPackageError(
            "exporting ONNX needs the onnx package: pip install onnx"
        ) from exc
    return onnx


def build_onnx_model(net: BaseNetworkFiles, opset: int = OPSET):
    """An `onnx.ModelProto` computing the same three outputs as `forward_reference`."""
    onnx = _onnx()
    helper, topo = onnx.helper, net.topology
    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    const("relu6_min", np.array(0.0, np.float32))
    const("relu6_max", np.array(6.0, np.float32))
    x = node("Transpose", ["input"], "input_nchw", perm=[0, 3, 1, 2])
    h, w = topo.height, topo.width
    outputs: dict[str, str] = {}
    feature_map = x
    for layer, shape in zip(topo.layers, topo.shapes(), strict=True):
        name = layer.name
        if layer.kind in ("conv", "dwconv", "pwconv"):
            wt, b = net.weights(layer)
            if layer.kind == "conv":  # HWIO -> OIHW
                kernel, group = wt.transpose(3, 2, 0, 1), 1
            elif layer.kind == "dwconv":  # HWC -> C1HW
                kernel, group = wt.transpose(2, 0, 1)[:, None], layer.cout
            else:  # IO -> OI11
                kernel, group = wt.T[:, :, None, None], 1
            ph = same_padding(h, layer.k, layer.stride)
            pw = same_padding(w, layer.k, layer.stride)
            y = node(
                "Conv",
                [x, const(f"{name}.w", kernel), const(f"{name}.b", b)],
                f"{name}.conv",
                kernel_shape=[layer.k, layer.k],
                strides=[layer.stride, layer.stride],
                pads=[ph[0], pw[0], ph[1], pw[1]],
                group=group,
            )
            if layer.add:
                y = node("Add", [y, outputs[layer.add]], f"{name}.add")
            if layer.act == "relu6":
                y = node("Clip", [y, "relu6_min", "relu6_max"], f"{name}.relu6")
            h, w = shape[0], shape[1]
        elif layer.kind == "gap":
            feature_map = x
            pooled = node("GlobalAveragePool", [x], f"{name}.pool")
            y = node("Flatten", [pooled], "features", axis=1)
        elif layer.kind == "fc":
            wt, b = net.weights(layer)
            y = node("Gemm", [x, const(f"{name}.w", wt), const(f"{name}.b", b)], f"{name}.fc")
        else:  # softmax
            y = node("Softmax", [x], "probabilities", axis=1)
        outputs[name] = x = y
    node("Transpose", [feature_map], "feature_map", perm=[0, 2, 3, 1])

    fmap_shape = topo.shapes()[topo.feature_layer() - 1]
    f32 = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        topo.name,
        [
            helper.make_tensor_value_info(
                "input", f32, ["N", topo.height, topo.width, topo.channels]
            )
        ],
        [
            helper.make_tensor_value_info("probabilities", f32, ["N", topo.num_classes]),
            helper.make_tensor_value_info("features", f32, ["N", topo.feature_dim]),
            helper.make_tensor_value_info("feature_map", f32, ["N", *fmap_shape]),
        ],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="neuralpatch"
    )
    model.ir_version = min(model.ir_version, 8)  # readable by older runtimes too
    onnx.checker.check_model(model)
    return model


def export_onnx(net: BaseNetworkFiles, path: str | Path, opset: int = OPSET) -> Path:
    """Write the network as an ONNX file (atomically); returns the path."""
    model = build_onnx_model(net, opset)
    return write_atomic(path, model.SerializeToString())
