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


@pytest.fixture(scope="session")
def felix_patch(base_network: BaseNetwork, sample_data: Path):
    """A cats patch trained on sample_data (domestic / small wild / big cat), cached features."""
    import threading

    from neuralpatch.engine.dataset import load_dataset
    from neuralpatch.engine.trainer import HyperParams, Trainer
    from neuralpatch.engine.training_files import PatchInfo, patch_from_trainer

    dataset = load_dataset(sample_data, base_network.classes.tag_names())
    trainer = Trainer(base_network, dataset, HyperParams(batch_size=8, lr=0.02))
    trainer.prepare()
    trainer.run(threading.Event(), steps=60)
    return patch_from_trainer(trainer, PatchInfo("felix cats"))


TREE_VIDEO = REPO.parent / "shared" / "video" / "tree.avi"


@pytest.fixture(scope="session")
def tree_video() -> Path:
    """OpenCV's tree.avi from ../shared beside the repo: a real video for the live loop.

    Missing, the tests that play it fail at once saying so (they would otherwise wait on a
    source that never opens).
    """
    if not TREE_VIDEO.is_file():
        pytest.fail(
            f"{TREE_VIDEO} is missing: the video tests need ../shared/video/tree.avi beside "
            "the repository (see CONTRIBUTING.md)",
            pytrace=False,
        )
    return TREE_VIDEO
