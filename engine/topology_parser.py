"""Reading a topology text (`<name>.txt`): every line checked, every error naming the file and
line. The grammar is documented in docs/base-network.md.
"""

from __future__ import annotations

from pathlib import Path

from neuralpatch.engine.errors import BaseNetworkError
from neuralpatch.engine.network_layers import WEIGHT_DTYPES, Layer, Topology

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
            weights=net.get("weights", "float32"),
        )
    except (KeyError, ValueError) as exc:
        raise BaseNetworkError(f"bad network/input line: {exc}", path, line) from exc
    if topology.weights not in WEIGHT_DTYPES:
        raise BaseNetworkError(
            f"weights={topology.weights} is not one of {', '.join(WEIGHT_DTYPES)}",
            path,
            int(net.get("_line", 0)),
        )
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
