"""Session-wide fixtures: the real base network is loaded and its kernels built once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data

from neuralpatch.engine.base_network import BaseNetwork

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data"


@pytest.fixture(scope="session")
def base_network() -> BaseNetwork:
    """The packaged EfficientNet-Lite0 on the real OpenCL device (PoCL in CI)."""
    base = BaseNetwork.load()
    base.warm_up()
    return base


@pytest.fixture(scope="session")
def reference_network(base_network: BaseNetwork) -> BaseNetwork:
    """The same files on the numpy reference, for cross-checks."""
    return BaseNetwork(base_network.files, base_network.classes, backend="numpy")


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Real photos shipped with scikit-image."""
    return {"chelsea": skimage.data.chelsea(), "coffee": skimage.data.coffee()}


@pytest.fixture(scope="session")
def sample_data() -> Path:
    return SAMPLE_DATA
