"""The in-memory base network: its layers (`Layer`) and the network around them (`Topology`),
with the shapes and costs every engine derives from them, and the text they are written as.

The text grammar is documented in docs/base-network.md; `topology_parser.py` reads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

FORMAT_HEADER = "# neuralpatch base network topology v1"
WEIGHT_DTYPES = {"float32": "<f4", "float16": "<f2"}  # `.data` element types (little-endian)


@dataclass(frozen=True)
class Layer:
    """One layer line. `add` names an earlier layer whose output is added (a residual)."""

    kind: str
    name: str
    cin: int = 0
    cout: int = 0
    k: int = 1
    stride: int = 1
    act: str = "none"
    add: str | None = None
    weight: int = 0
    bias: int = 0
    line: int = 0

    def weight_shape(self) -> tuple[int, ...]:
        """Layout of this layer's weights in `.data`: HWIO, HWC, IO or IO."""
        return {
            "conv": (self.k, self.k, self.cin, self.cout),
            "dwconv": (self.k, self.k, self.cout),
            "pwconv": (self.cin, self.cout),
            "fc": (self.cin, self.cout),
        }.get(self.kind, ())

    @property
    def has_weights(self) -> bool:
        return self.kind in ("conv", "dwconv", "pwconv", "fc")


@dataclass
class Topology:
    """A parsed topology: input geometry and preprocessing, then the layers in order."""

    name: str
    height: int
    width: int
    channels: int
    mean: float
    scale: float
    layers: list[Layer] = field(default_factory=list)
    weights: str = "float32"  # how `.data` stores them; they are float32 once loaded

    def shapes(self) -> list[tuple[int, ...]]:
        """Per-layer output shape for one image: (H, W, C) for maps, (C,) after pooling."""
        h, w, c = self.height, self.width, self.channels
        out: list[tuple[int, ...]] = []
        for layer in self.layers:
            if layer.kind in ("conv", "dwconv"):
                h, w, c = math.ceil(h / layer.stride), math.ceil(w / layer.stride), layer.cout
                out.append((h, w, c))
            elif layer.kind == "pwconv":
                c = layer.cout
                out.append((h, w, c))
            elif layer.kind == "gap":
                out.append((c,))
            elif layer.kind == "fc":
                c = layer.cout
                out.append((c,))
            else:
                out.append((c,))
        return out

    def feature_layer(self) -> int:
        """Index of the global-average-pool layer whose output patches consume."""
        return next(i for i, layer in enumerate(self.layers) if layer.kind == "gap")

    @property
    def feature_dim(self) -> int:
        return self.shapes()[self.feature_layer()][0]

    @property
    def num_classes(self) -> int:
        return self.shapes()[-1][0]

    def parameter_count(self) -> int:
        return sum(
            math.prod(lay.weight_shape()) + lay.cout for lay in self.layers if lay.has_weights
        )

    def macs_per_image(self) -> int:
        """Multiply-adds of one forward pass (2 FLOPs each)."""
        total = 0
        for layer, shape in zip(self.layers, self.shapes(), strict=True):
            if layer.has_weights:
                pixels = shape[0] * shape[1] if len(shape) == 3 else 1
                total += pixels * math.prod(layer.weight_shape())
        return total

    def data_floats(self) -> int:
        """Number of float32 values the `.data` file must hold."""
        ends = [
            lay.weight + math.prod(lay.weight_shape()) for lay in self.layers if lay.has_weights
        ]
        ends += [lay.bias + lay.cout for lay in self.layers if lay.has_weights]
        return max(ends, default=0)

    def to_text(self) -> str:
        lines = [
            FORMAT_HEADER,
            f"network name={self.name}"
            + (f" weights={self.weights}" if self.weights != "float32" else ""),
            f"input height={self.height} width={self.width} channels={self.channels} "
            f"mean={self.mean:g} scale={self.scale!r}",
        ]
        for lay in self.layers:
            parts = [lay.kind, f"name={lay.name}"]
            if lay.has_weights:
                parts += [f"in={lay.cin}", f"out={lay.cout}"]
            if lay.kind in ("conv", "dwconv"):
                parts += [f"k={lay.k}", f"stride={lay.stride}", "pad=same"]
            if lay.kind in ("conv", "dwconv", "pwconv"):
                parts.append(f"act={lay.act}")
            if lay.add:
                parts.append(f"add={lay.add}")
            if lay.has_weights:
                parts += [f"weight={lay.weight}", f"bias={lay.bias}"]
            lines.append(" ".join(parts))
        return "\n".join(lines) + "\n"
