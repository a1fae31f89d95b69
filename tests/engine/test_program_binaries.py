"""Stored program binaries: a second build comes from the binary and computes the same, and a
damaged or refused binary is rebuilt from source, never an error (real device, real kernels)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from neuralpatch.engine.opencl_programs import (
    DIGEST,
    binary_file,
    build_program,
    program_source,
)
from neuralpatch.engine.opencl_runtime import get_runtime

FILE = "global_average_pool.cl"


@pytest.fixture(scope="module")
def runtime():
    return get_runtime()


def build(runtime, folder: Path, options: str = ""):
    return build_program(runtime.cl, runtime.context, runtime.device, FILE, options, folder)


def mean_of(runtime, program) -> bool:
    """Run the pooling kernel of `program` on real data; True when it averages correctly."""
    x = np.arange(2 * 3 * 16, dtype=np.float32).reshape(2, 3, 16)
    src, dst = runtime.upload(x), runtime.alloc(2 * 16 * 4)
    kernel = runtime.cl.Kernel(program, "global_average_pool")
    kernel.set_args(src, dst, np.int32(3), np.int32(16))
    runtime.cl.enqueue_nd_range_kernel(runtime.queue, kernel, (1, 2), (1, 1))
    out = np.empty((2, 16), np.float32)
    runtime.cl.enqueue_copy(runtime.queue, out, dst, is_blocking=True)
    runtime.free(src), runtime.free(dst)
    return bool(np.allclose(out, x.mean(axis=1)))


def stored(runtime, folder: Path, options: str = "") -> Path:
    return binary_file(folder, runtime.device, program_source(FILE), options)


def test_second_build_comes_from_the_binary_and_computes_the_same(runtime, tmp_path):
    program, from_binary = build(runtime, tmp_path)
    assert not from_binary and mean_of(runtime, program)
    raw = stored(runtime, tmp_path).read_bytes()
    assert hashlib.sha256(raw[DIGEST:]).digest() == raw[:DIGEST] and len(raw) > 1000
    again, from_binary = build(runtime, tmp_path)
    assert from_binary and mean_of(runtime, again)
    other, from_binary = build(runtime, tmp_path, "-DUNUSED=1")  # options are part of the key
    assert not from_binary and stored(runtime, tmp_path, "-DUNUSED=1").is_file()


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda raw: raw[: len(raw) // 2], id="truncated"),
        pytest.param(lambda raw: b"", id="empty"),
        pytest.param(lambda raw: raw[:DIGEST] + bytes(len(raw) - DIGEST), id="zeroed"),
        pytest.param(
            lambda raw: hashlib.sha256(b"junk" * 64).digest() + b"junk" * 64, id="refused"
        ),  # a valid checksum over bytes the driver cannot load
    ],
)
def test_a_damaged_binary_is_rebuilt_from_source(runtime, tmp_path, spoil, caplog):
    build(runtime, tmp_path)
    path = stored(runtime, tmp_path)
    good = path.read_bytes()
    path.write_bytes(spoil(good))
    program, from_binary = build(runtime, tmp_path)
    assert not from_binary and mean_of(runtime, program)
    assert "building from source" in caplog.text
    _, from_binary = build(runtime, tmp_path)  # stored anew, whole
    assert from_binary
