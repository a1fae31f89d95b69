"""The base network as the rest of the product sees it: photos in, probabilities and features out.

Loads (converting the packaged weights on first use, and again when the cached copy fails
its checksums) the `.txt`/`.data` pair and the class map, and runs the forward pass on
OpenCL. The numpy reference can be chosen instead, for
cross-checks and benchmarks only.
"""

from __future__ import annotations

import logging
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
log = logging.getLogger(__name__)


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
    return _default_files(progress).txt_path


def _default_files(progress: Progress | None = None) -> BaseNetworkFiles:
    """Load the converted network, (re-)converting when it is missing or fails its checksums."""
    folder = cache_dir("base")
    txt = folder / f"{NAME}.txt"
    with _convert_lock:
        if txt.exists():
            try:
                return load_topology_files(txt, require_checksum=True)
            except BaseNetworkError as exc:  # a flipped bit, a cut file: the cache heals
                log.warning("re-converting the base network: %s", exc)
                if progress:
                    progress(0, 1, "re-converting (the cached copy failed its checksum)")
        convert_packaged_weights(folder, progress)
        return load_topology_files(txt, require_checksum=True)


class BaseNetwork:
    """A loaded base network bound to a backend ("opencl", or "numpy" for cross-checks)."""

    def __init__(
        self,
        files: BaseNetworkFiles,
        classes: BaseClasses,
        backend: str = "opencl",
        device: str | None = None,
    ):
        self.files, self.classes, self.backend = files, classes, backend
        self.topology = files.topology
        self._runner = None
        self._device = device

    @classmethod
    def load(
        cls,
        txt_path: str | Path | None = None,
        backend: str = "opencl",
        device: str | None = None,
        progress: Progress | None = None,
    ) -> BaseNetwork:
        """Load `txt_path` (default: the converted packaged network) and its class map."""
        if txt_path:
            txt = Path(txt_path)
            if txt.suffix != ".txt":
                raise BaseNetworkError("the base network is named by its .txt topology file", txt)
            files = load_topology_files(txt)
        else:
            files = _default_files(progress)
        classes = read_base_class_map(
            files.txt_path.parent / "map_clsloc.txt", files.topology.num_classes
        )
        return cls(files, classes, backend, device)

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

    def _backend(self, progress: Progress | None = None):
        if self._runner is None:
            if self.backend == "numpy":
                self._runner = _NumpyRunner(self.files)
            elif self.backend == "opencl":
                from neuralpatch.engine.opencl_network import OpenCLNetwork
                from neuralpatch.engine.opencl_runtime import get_runtime

                def on_build(done: int, total: int, file: str) -> None:
                    if progress:
                        progress(done, total, f"building {file}")

                self._runner = OpenCLNetwork(
                    self.files, get_runtime(self._device), on_build=on_build
                )
            else:
                raise BaseNetworkError(f"unknown backend {self.backend!r} (opencl or numpy)")
        return self._runner

    def warm_up(self, progress: Progress | None = None) -> None:
        """Build kernels, upload weights and run one image now rather than on the first photo.

        The first run of each kernel is when PoCL compiles it for its work-group size (most
        of a cold start); `progress(done, total, what)` reports program builds, then layers.
        """
        runner = self._backend(progress)
        if self.backend == "opencl":
            height, width, channels = runner.input_shape
            blank = np.zeros((1, height, width, channels), np.float32)

            def on_layer(done: int, total: int) -> None:
                if progress:
                    progress(done, total, "compiling kernels")

            runner.forward(blank, on_layer)

    def profile(self, batch: int = 1, repeats: int = 5, progress: Progress | None = None) -> dict:
        """Device ms and GFLOP/s per kernel vs the sgemm peak (see `base_profile.py`)."""
        if self.backend != "opencl":
            raise BaseNetworkError("profiling needs the opencl backend")
        from neuralpatch.engine.base_profile import profile_network

        return profile_network(self._backend(), batch, repeats, progress)

    def run_tensor(self, batch: np.ndarray, on_layer: LayerProgress | None = None) -> BasePass:
        out = self._backend().forward(batch, on_layer)
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
