"""The OpenCL runtime: device choice, the kernel table against the `.cl` sources, build errors
naming the file and line, caches."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from neuralpatch.engine import opencl_programs, opencl_runtime
from neuralpatch.engine.errors import DeviceError, KernelBuildError
from neuralpatch.engine.opencl_kernels import KERNELS
from neuralpatch.engine.opencl_runtime import get_runtime, select_device


def test_kernel_table_lists_each_kernels_parameters_in_order():
    """The named arguments next to the table are the `.cl` signature, in the same order."""
    for spec in KERNELS.values():
        source = opencl_programs.kernel_source(spec.file)
        signature = re.search(rf"__kernel void {spec.name}\s*\(([^)]*)\)", source)[1]
        names = tuple(re.findall(r"(\w+)\s*(?:,|$)", signature.strip()))
        assert names == spec.args, spec.file


def test_device_chosen_by_env_substring(monkeypatch, runtime):
    name = runtime.device.name.strip()
    monkeypatch.setenv(opencl_runtime.DEVICE_ENV, name[-4:].swapcase())
    assert get_runtime() is runtime
    monkeypatch.setenv(opencl_runtime.DEVICE_ENV, "0:0")
    assert select_device() == (0, 0)


@pytest.mark.parametrize("spec", ["no-such-device-xyz", "7:3"])
def test_bad_device_spec_raises_device_error(monkeypatch, spec):
    with pytest.raises(DeviceError, match="available"):
        get_runtime(spec)
    monkeypatch.setenv(opencl_runtime.DEVICE_ENV, spec)
    with pytest.raises(DeviceError):
        select_device()


def test_build_error_names_the_file_and_line(runtime, monkeypatch):
    source = (Path(__file__).parents[1] / "data" / "broken.cl").read_text()
    real = opencl_programs.kernel_source
    monkeypatch.setattr(
        opencl_programs, "kernel_source", lambda name: source if name == "broken.cl" else real(name)
    )
    with pytest.raises(KernelBuildError) as info:
        runtime.program("broken.cl")
    assert info.value.path.name == "broken.cl" and info.value.line == 4
    assert "undeclared identifier" in str(info.value)


def test_describe_reports_device_and_caches(runtime, network):
    network.forward(np.zeros((1, *network.input_shape), np.float32))  # whatever ran before
    facts = runtime.describe()
    assert facts["compute_units"] >= 1 and facts["device"]
    assert Path(facts["cache_dir"]).is_dir()
    assert facts["cache_state"].split()[0] in ("warm", "cold", "mixed")
    built = {b["file"] for b in facts["builds"]}
    assert built <= {spec.file for spec in KERNELS.values()}
    assert {"conv2d.cl", "pointwise_conv.cl", "depthwise_project_conv.cl"} <= built
