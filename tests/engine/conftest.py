"""Fixtures shared by engine tests: one OpenCL runtime, the real base files and network, and a
saved patch file."""

from __future__ import annotations

from pathlib import Path

import pytest
from patch_file_helpers import make_patch

from neuralpatch.engine.base_network import default_base_path
from neuralpatch.engine.opencl_network import OpenCLNetwork
from neuralpatch.engine.opencl_runtime import get_runtime
from neuralpatch.engine.patch_file import save_patch
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
def patch_path(tmp_path) -> Path:
    return save_patch(make_patch(), tmp_path / "cats.specialneurons")
