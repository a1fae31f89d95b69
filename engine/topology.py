"""The base network's human-readable topology file (`<name>.txt`) and its float32 `.data`.

One layer per line, `kind key=value ...`; the grammar is documented in docs/base-network.md.
Weights are offsets (in float32 elements) into the raw little-endian `.data` file that sits
beside the `.txt`. Activations are NHWC; weight layouts per kind are listed in `weight_shape`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralpatch.engine.errors import BaseNetworkError

FORMAT_HEADER = "# neuralpatch base network topology v1"
LAYER_KINDS = ("conv", "dwconv", "pwconv", "gap", "fc", "softmax")
ACTIVATIONS = ("none", "relu6")
_INT_KEYS = {"in", "out", "k", "stride", "weight", "bias"}
_KEYS = {
    "conv": {"name", "in", "out", "k", "stride", "pad", "act", "weight", "bias"},
    "dwconv": {"name", "in", "out", "k", "stride", "pad", "act", "weight", "bias"},
    "pwconv": {"name", "in", "out", "act", "add", "weight", "bias"},
    "fc": {"name", "in", "out", "weight", "bias"},
    "gap": {"name"},
    "softmax": {"name"},
}
_OPTIONAL = {"act", "add", "pad", "stride"}


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
            f"network name={self.name}",
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


def parse_topology(text: str, path: str | Path = "<topology>") -> Topology:
    """Parse and check a topology text; every error names the file and line."""
    header: dict[str, dict[str, str]] = {}
    layers: list[Layer] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kind, *fields = line.split()
        values: dict[str, str] = {}
        for item in fields:
            key, sep, value = item.partition("=")
            if not sep or not value:
                raise BaseNetworkError(f"expected key=value, got {item!r}", path, number)
            if key in values:
                raise BaseNetworkError(f"{key} given twice", path, number)
            values[key] = value
        if kind in ("network", "input"):
            header[kind] = values | {"_line": str(number)}
            continue
        if kind not in _KEYS:
            raise BaseNetworkError(
                f"unknown layer kind {kind!r} (expected one of {', '.join(LAYER_KINDS)})",
                path,
                number,
            )
        layers.append(_layer_from_fields(kind, values, path, number))
    topology = _topology_from_header(header, layers, path)
    _check_chain(topology, path)
    return topology


def _layer_from_fields(kind: str, values: dict[str, str], path, number: int) -> Layer:
    allowed = _KEYS[kind]
    unknown = set(values) - allowed
    if unknown:
        raise BaseNetworkError(f"unknown key {sorted(unknown)[0]!r} for {kind}", path, number)
    missing = allowed - _OPTIONAL - set(values)
    if missing:
        raise BaseNetworkError(f"{kind} needs {sorted(missing)[0]}=", path, number)
    args: dict[str, object] = {}
    for key, value in values.items():
        if key in _INT_KEYS:
            if not (value.isascii() and value.isdigit()):
                raise BaseNetworkError(f"{key}={value} is not a non-negative integer", path, number)
            args[{"in": "cin", "out": "cout"}.get(key, key)] = int(value)
        elif key == "pad" and value != "same":
            raise BaseNetworkError(f"pad={value} is not supported (only pad=same)", path, number)
        elif key == "act" and value not in ACTIVATIONS:
            raise BaseNetworkError(f"act={value} is not one of {ACTIVATIONS}", path, number)
        elif key != "pad":
            args[key] = value
    layer = Layer(kind=kind, line=number, **args)  # type: ignore[arg-type]
    if layer.has_weights and (layer.cin < 1 or layer.cout < 1):
        raise BaseNetworkError("in= and out= must be at least 1", path, number)
    if layer.kind in ("conv", "dwconv") and (layer.k < 1 or layer.stride < 1):
        raise BaseNetworkError("k= and stride= must be at least 1", path, number)
    if layer.kind == "dwconv" and layer.cin != layer.cout:
        raise BaseNetworkError("a depthwise conv needs in= equal to out=", path, number)
    return layer


def _topology_from_header(header, layers: list[Layer], path) -> Topology:
    for kind in ("network", "input"):
        if kind not in header:
            raise BaseNetworkError(f"missing the '{kind}' line", path)
    net, inp = header["network"], header["input"]
    line = int(inp.get("_line", net.get("_line", 0)))
    try:
        topology = Topology(
            name=net["name"],
            height=int(inp["height"]),
            width=int(inp["width"]),
            channels=int(inp["channels"]),
            mean=float(inp["mean"]),
            scale=float(inp["scale"]),
            layers=layers,
        )
    except (KeyError, ValueError) as exc:
        raise BaseNetworkError(f"bad network/input line: {exc}", path, line) from exc
    if min(topology.height, topology.width, topology.channels) < 1:
        raise BaseNetworkError("input height, width and channels must be at least 1", path, line)
    return topology


def _check_chain(topology: Topology, path) -> None:
    """Each layer must consume what the previous one produces; residuals must match shapes."""
    if not topology.layers:
        raise BaseNetworkError("no layers", path)
    channels, spatial = topology.channels, True
    seen: dict[str, int] = {}
    shapes = topology.shapes()
    for i, layer in enumerate(topology.layers):
        if layer.name in seen:
            raise BaseNetworkError(f"layer name {layer.name} used twice", path, layer.line)
        if layer.has_weights and layer.cin != channels:
            raise BaseNetworkError(
                f"in={layer.cin} but the previous layer gives {channels} channels", path, layer.line
            )
        if layer.kind in ("conv", "dwconv", "pwconv") and not spatial:
            raise BaseNetworkError(f"{layer.kind} after pooling", path, layer.line)
        if layer.kind == "fc" and spatial:
            raise BaseNetworkError("fc needs a gap layer before it", path, layer.line)
        if layer.add is not None:
            if layer.add not in seen:
                raise BaseNetworkError(f"add={layer.add} is not an earlier layer", path, layer.line)
            if shapes[seen[layer.add]] != shapes[i]:
                raise BaseNetworkError(f"add={layer.add} has another shape", path, layer.line)
        if layer.kind == "gap":
            spatial = False
        if layer.has_weights:
            channels = layer.cout
        seen[layer.name] = i
    kinds = [lay.kind for lay in topology.layers]
    if kinds.count("gap") != 1 or kinds[-1] != "softmax":
        raise BaseNetworkError(
            "the network needs exactly one gap layer and must end in softmax", path
        )


@dataclass
class BaseNetworkFiles:
    """A topology with its weights loaded, and the file paths they came from."""

    txt_path: Path
    topology: Topology
    data: np.ndarray
    identity: str

    def weights(self, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
        """Views of a layer's weights (in `weight_shape` layout) and bias."""
        w = self.data[layer.weight : layer.weight + math.prod(layer.weight_shape())]
        b = self.data[layer.bias : layer.bias + layer.cout]
        return w.reshape(layer.weight_shape()), b


def load_topology_files(txt_path: str | Path) -> BaseNetworkFiles:
    """Read `<name>.txt` and the `<name>.data` beside it, checking the size matches."""
    txt_path = Path(txt_path)
    data_path = txt_path.with_suffix(".data")
    try:
        text_bytes = txt_path.read_bytes()
    except OSError as exc:
        raise BaseNetworkError(f"cannot read topology: {exc.strerror}", txt_path) from exc
    try:
        text = text_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BaseNetworkError("topology is not UTF-8 text", txt_path) from exc
    topology = parse_topology(text, txt_path)
    try:
        raw = data_path.read_bytes()
    except OSError as exc:
        raise BaseNetworkError(
            f"cannot read the weights beside the topology: {exc.strerror}", data_path
        ) from exc
    expected = topology.data_floats() * 4
    if len(raw) != expected:
        raise BaseNetworkError(
            f"holds {len(raw)} bytes but {txt_path.name} needs {expected}", data_path
        )
    data = np.frombuffer(raw, dtype="<f4").astype(np.float32, copy=False)
    if not np.isfinite(data).all():
        raise BaseNetworkError("weights contain NaN or infinity", data_path)
    identity = hashlib.sha256(text_bytes + hashlib.sha256(raw).digest()).hexdigest()[:16]
    return BaseNetworkFiles(txt_path, topology, data, identity)
