"""The base network as the rest of the product sees it: photos in, probabilities and features out.

Loads (converting the packaged weights on first use) the `.txt`/`.data` pair and the class
map, and runs the forward pass on OpenCL. The numpy reference can be chosen instead, for
cross-checks and benchmarks only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralpatch.engine.classes import BaseClasses, read_base_class_map
from neuralpatch.engine.convert import NAME, convert_packaged_weights
from neuralpatch.engine.errors import BaseNetworkError
from neuralpatch.engine.paths import cache_dir
from neuralpatch.engine.preprocess import to_input
from neuralpatch.engine.reference import forward_reference
from neuralpatch.engine.topology import BaseNetworkFiles, load_topology_files

Progress = Callable[[int, int, str], None]
LayerProgress = Callable[[int, int], None]
_convert_lock = threading.Lock()


@dataclass
class BasePass:
    """What one pass over N images yields: patches consume `features`."""

    probabilities: np.ndarray  # (N, classes)
    features: np.ndarray  # (N, feature_dim), the pooled features
    feature_map: np.ndarray  # (N, h, w, feature_dim), the last map before pooling


@dataclass(frozen=True)
class Prediction:
    index: int
    tag: str
    name: str
    probability: float


def default_base_path(progress: Progress | None = None) -> Path:
    """The converted packaged network in the user cache, converting it on first use."""
    folder = cache_dir("base")
    txt = folder / f"{NAME}.txt"
    with _convert_lock:
        if not txt.exists():
            convert_packaged_weights(folder, progress)
    return txt


class BaseNetwork:
    """A loaded base network bound to an engine ("opencl", or "numpy" for cross-checks)."""

    def __init__(
        self,
        files: BaseNetworkFiles,
        classes: BaseClasses,
        engine: str = "opencl",
        device: str | None = None,
    ):
        self.files, self.classes, self.engine = files, classes, engine
        self.topology = files.topology
        self._runner = None
        self._device = device

    @classmethod
    def load(
        cls,
        txt_path: str | Path | None = None,
        engine: str = "opencl",
        device: str | None = None,
        progress: Progress | None = None,
    ) -> BaseNetwork:
        """Load `txt_path` (default: the converted packaged network) and its class map."""
        txt = Path(txt_path) if txt_path else default_base_path(progress)
        if txt.suffix != ".txt":
            raise BaseNetworkError("the base network is named by its .txt topology file", txt)
        files = load_topology_files(txt)
        classes = read_base_class_map(txt.parent / "map_clsloc.txt", files.topology.num_classes)
        return cls(files, classes, engine, device)

    @property
    def fingerprint(self) -> str:
        """Identity of topology + weights; patches and feature caches are keyed by it."""
        return self.files.identity

    @property
    def feature_dim(self) -> int:
        return self.topology.feature_dim

    @property
    def layer_count(self) -> int:
        return len(self.topology.layers)

    def _engine(self):
        if self._runner is None:
            if self.engine == "numpy":
                self._runner = _NumpyRunner(self.files)
            elif self.engine == "opencl":
                from neuralpatch.engine.opencl_network import OpenCLNetwork
                from neuralpatch.engine.opencl_runtime import get_runtime

                self._runner = OpenCLNetwork(self.files, get_runtime(self._device))
            else:
                raise BaseNetworkError(f"unknown engine {self.engine!r} (opencl or numpy)")
        return self._runner

    def warm_up(self) -> None:
        """Build kernels and upload weights now rather than on the first image."""
        self._engine()

    def run_tensor(self, batch: np.ndarray, on_layer: LayerProgress | None = None) -> BasePass:
        out = self._engine().forward(batch, on_layer)
        return BasePass(out["probabilities"], out["features"], out["feature_map"])

    def run(self, images: list[np.ndarray], on_layer: LayerProgress | None = None) -> BasePass:
        """One pass over RGB uint8 photos of any size (cropped and resized here)."""
        return self.run_tensor(to_input(images, self.topology), on_layer)

    def top_k(self, probabilities: np.ndarray, k: int = 5) -> list[Prediction]:
        """The k most probable classes of one image's probability vector."""
        order = np.argsort(probabilities)[::-1][:k]
        return [
            Prediction(int(i), self.classes.tags[i], self.classes.names[i], float(probabilities[i]))
            for i in order
        ]


class _NumpyRunner:
    def __init__(self, files: BaseNetworkFiles):
        self.files = files

    def forward(self, batch: np.ndarray, on_layer: LayerProgress | None = None) -> dict:
        return forward_reference(self.files, batch, on_layer)
