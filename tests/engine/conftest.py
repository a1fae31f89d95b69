"""Fixtures shared by engine tests: one OpenCL runtime, the real base files and network, a
writable dataset, a saved patch file, and a cascade of two real patches (trained once per
session) with real frames."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from patch_file_helpers import make_patch
from patch_system_helpers import DOMESTIC, icon_png, orientation_dataset, train
from PIL import Image

from neuralpatch.engine.base_network import default_base_path
from neuralpatch.engine.opencl_network import OpenCLNetwork
from neuralpatch.engine.opencl_runtime import get_runtime
from neuralpatch.engine.patch_file import PatchFile, save_patch
from neuralpatch.engine.patch_system import PatchSystem
from neuralpatch.engine.topology import BaseNetworkFiles, load_topology_files


@pytest.fixture(scope="module")
def runtime():
    return get_runtime()


@pytest.fixture(scope="module")
def files() -> BaseNetworkFiles:
    return load_topology_files(default_base_path())


@pytest.fixture(scope="module")
def network(files, runtime) -> OpenCLNetwork:
    return OpenCLNetwork(files, runtime)


@pytest.fixture
def dataset_copy(sample_data, tmp_path) -> Path:
    """A writable copy of the sample cats dataset."""
    folder = tmp_path / "felix"
    shutil.copytree(sample_data, folder)
    return folder


@pytest.fixture
def patch_path(tmp_path) -> Path:
    return save_patch(make_patch(), tmp_path / "cats.specialneurons")


@pytest.fixture(scope="session")
def master(base_network, sample_data) -> PatchFile:
    return train(base_network, sample_data, "felix cats", 40, icon=icon_png(sample_data))


@pytest.fixture(scope="session")
def slave(base_network, sample_data, tmp_path_factory) -> PatchFile:
    root = orientation_dataset(sample_data, tmp_path_factory.mktemp("orientation"))
    return train(base_network, root, "cat orientation", 150, {DOMESTIC: "domestic_cat"})


@pytest.fixture(scope="session")
def frames(base_network, photos, sample_data) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Base pass results (probabilities, features) of real photos."""
    chelsea = photos["chelsea"]
    with Image.open(sample_data / "n02124623_206.jpg") as img:
        wildcat = np.asarray(img.convert("RGB"))
    images = {
        "chelsea": chelsea,
        "coffee": photos["coffee"],
        "wildcat": wildcat,
        "chelsea_upside_down": np.ascontiguousarray(chelsea[::-1, ::-1]),
    }
    out = base_network.run(list(images.values()))
    return {name: (out.probabilities[i], out.features[i]) for i, name in enumerate(images)}


@pytest.fixture
def cascade(base_network, master, slave, tmp_path) -> PatchSystem:
    system = PatchSystem.for_base(base_network)
    save_patch(master, tmp_path / "felix_cats.specialneurons")
    save_patch(slave, tmp_path / "cat_orientation.specialneurons")
    events = system.load_dir(tmp_path)
    assert [(e.kind, e.name) for e in events] == [
        ("loaded", "cat orientation"),
        ("loaded", "felix cats"),
    ]
    return system
