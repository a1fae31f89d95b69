"""A damaged PoCL kernel cache heals: real cache files are cut or overwritten, then a child
process (so a crash cannot take pytest down) builds and runs a kernel from that cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuralpatch.engine import kernel_cache

CHILD = """
import numpy as np
from neuralpatch.engine.opencl_runtime import get_runtime
rt = get_runtime()
kernel = rt.cl.Kernel(rt.program("global_average_pool.cl"), "global_average_pool")
x = np.arange(2 * 3 * 16, dtype=np.float32).reshape(2, 3, 16)
src, dst = rt.upload(x), rt.alloc(2 * 16 * 4)
kernel.set_args(src, dst, np.int32(3), np.int32(16))
rt.cl.enqueue_nd_range_kernel(rt.queue, kernel, (1, 2), (1, 1))
out = np.empty((2, 16), np.float32)
rt.cl.enqueue_copy(rt.queue, out, dst, is_blocking=True)
rt.record_kernel_cache()
print("mean ok" if np.allclose(out, x.mean(axis=1)) else "mean WRONG")
"""


def run_child(cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POCL_")}
    env["NEURALPATCH_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cache")
    first = run_child(root)
    assert first.returncode == 0 and "mean ok" in first.stdout, first.stderr
    return root


def pocl_files(cache: Path, name: str) -> list[Path]:
    found = sorted((cache / "opencl" / "pocl").glob(f"*/*/**/{name}"))
    assert found, f"no {name} in the PoCL cache"
    return found


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(("*.so", lambda raw: raw[:1000]), id="truncated-so"),  # was SIGBUS
        pytest.param(("*.so", lambda raw: b""), id="empty-so"),  # was SIGABRT
        pytest.param(("program.bc", lambda raw: os.urandom(3000)), id="garbage-bc"),
    ],
)
def test_a_damaged_kernel_cache_is_rebuilt(cache: Path, damage):
    pattern, spoil = damage
    victims = pocl_files(cache, pattern)
    good = {path: path.read_bytes() for path in victims}
    for path in victims:
        path.write_bytes(spoil(good[path]))
    run = run_child(cache)
    assert run.returncode == 0, run.stderr  # not -7 (SIGBUS) or -6 (SIGABRT)
    assert "mean ok" in run.stdout and "rebuilt" in run.stderr
    rebuilt = pocl_files(cache, pattern)
    assert all(path.stat().st_size > 1000 for path in rebuilt)


def test_unlisted_entries_are_checked_by_structure(cache: Path):
    """Without a manifest (garbage here), whole entries stay and cut ones go."""
    root = cache / "opencl" / "pocl"
    (root / kernel_cache.MANIFEST).write_bytes(b"\x00garbage{")
    later = max(p.stat().st_mtime for p in root.rglob("*")) + kernel_cache.FRESH_S + 1
    assert kernel_cache.heal(root, now=later) == []  # healthy files of other processes stay
    so = pocl_files(cache, "*.so")[0]
    so.write_bytes(so.read_bytes()[:-100])
    assert kernel_cache.heal(root, now=later) == [so.relative_to(root).as_posix()]
    assert not so.exists()
    run = run_child(cache)
    assert run.returncode == 0 and "mean ok" in run.stdout, run.stderr
    manifest = json.loads((root / kernel_cache.MANIFEST).read_text())
    assert any(name.endswith("program.bc") for name in manifest["files"])


def test_record_rehashes_only_when_the_files_change(cache: Path):
    """Every start records after its first launch: an unchanged cache is not hashed again,
    and entries `heal` deletes leave the manifest, so their rebuild is recorded."""
    root = cache / "opencl" / "pocl"
    kernel_cache.record(root)
    manifest = root / kernel_cache.MANIFEST
    before = manifest.stat().st_ino
    kernel_cache.record(root)
    assert manifest.stat().st_ino == before  # not rewritten (write_atomic makes a new inode)
    so = pocl_files(cache, "*.so")[0]
    program = "/".join(so.relative_to(root).parts[:2])
    so.write_bytes(so.read_bytes()[:-100])
    assert kernel_cache.heal(root) == [program]
    listed = json.loads(manifest.read_text())["files"]
    assert not any(name.startswith(f"{program}/") for name in listed)
    run = run_child(cache)
    assert run.returncode == 0 and "mean ok" in run.stdout, run.stderr
    listed = json.loads(manifest.read_text())["files"]
    assert any(name.startswith(f"{program}/") for name in listed)
