"""The base network's file pair: the human-readable topology (`<name>.txt`) and its float32
weights (`<name>.data`), loaded together and checked against each other.

Weights are offsets (in float32 elements) into the raw little-endian `.data` file that sits
beside the `.txt`. Activations are NHWC; weight layouts per kind are listed in
`Layer.weight_shape`. The layer model lives in `network_layers.py`, the parser in
`topology_parser.py`; both are re-exported here, the one place the rest of the engine imports.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralpatch.engine.errors import BaseNetworkError
from neuralpatch.engine.network_layers import FORMAT_HEADER, WEIGHT_DTYPES, Layer, Topology
from neuralpatch.engine.topology_parser import LAYER_KINDS, parse_topology

CHECKSUM_SUFFIX = ".sha256"
__all__ = [
    "FORMAT_HEADER",
    "LAYER_KINDS",
    "WEIGHT_DTYPES",
    "CHECKSUM_SUFFIX",
    "BaseNetworkFiles",
    "checksum_path",
    "checksum_text",
    "Layer",
    "Topology",
    "load_topology_files",
    "parse_topology",
]


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


def checksum_path(txt_path: Path) -> Path:
    """`<name>.sha256` beside the pair: `sha256sum -c` format, written at conversion."""
    return txt_path.with_suffix(CHECKSUM_SUFFIX)


def checksum_text(txt_path: Path, text_bytes: bytes, data_bytes: bytes) -> str:
    """The `<name>.sha256` content for a pair (the `.data` line first)."""
    data_path = txt_path.with_suffix(".data")
    return "".join(
        f"{hashlib.sha256(content).hexdigest()}  {path.name}\n"
        for path, content in ((data_path, data_bytes), (txt_path, text_bytes))
    )


def _check_sums(txt_path: Path, text_bytes: bytes, raw: bytes, required: bool) -> None:
    """Refuse a pair that differs from the checksums stored beside it (a flipped bit, a
    half-copied file); without a `.sha256` file only `required` refuses."""
    sums = checksum_path(txt_path)
    try:
        stored = sums.read_text("utf-8")
    except FileNotFoundError:
        if required:
            raise BaseNetworkError("no checksum file beside the pair", sums) from None
        return
    except (OSError, UnicodeDecodeError) as exc:
        raise BaseNetworkError(f"cannot read the checksum file: {exc}", sums) from exc
    expected = checksum_text(txt_path, text_bytes, raw).splitlines()
    for want, line in zip(expected, stored.splitlines() + [""] * 2, strict=False):
        if want != line.strip():
            name = want.split()[-1]
            raise BaseNetworkError(
                f"{name} does not match its checksum in {sums.name} (changed since conversion)",
                txt_path.with_name(name),
            )


def load_topology_files(txt_path: str | Path, require_checksum: bool = False) -> BaseNetworkFiles:
    """Read `<name>.txt` and the `<name>.data` beside it, checking the size matches.

    When a `<name>.sha256` lies beside them (conversion writes one), both files must match it;
    `require_checksum` also refuses a pair without one (the converted cache always has it).
    """
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
    try:
        raw = data_path.read_bytes()
    except OSError as exc:
        raise BaseNetworkError(
            f"cannot read the weights beside the topology: {exc.strerror}", data_path
        ) from exc
    _check_sums(txt_path, text_bytes, raw, require_checksum)
    topology = parse_topology(text, txt_path)
    stored = np.dtype(WEIGHT_DTYPES[topology.weights])
    expected = topology.data_floats() * stored.itemsize
    if len(raw) != expected:
        raise BaseNetworkError(
            f"holds {len(raw)} bytes but {txt_path.name} needs {expected}", data_path
        )
    data = np.frombuffer(raw, dtype=stored).astype(np.float32, copy=False)
    if not np.isfinite(data).all():
        raise BaseNetworkError("weights contain NaN or infinity", data_path)
    identity = hashlib.sha256(text_bytes + hashlib.sha256(raw).digest()).hexdigest()[:16]
    return BaseNetworkFiles(txt_path, topology, data, identity)
