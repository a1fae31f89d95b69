"""The one OpenCL runtime: device choice, context, queue, program cache and buffers.

Everything above this module speaks in arrays and layers; only this module talks to the
OpenCL platform. Nothing here runs at import time: `get_runtime()` creates the context on
first use and caches it per process.

Device choice (`get_runtime(device)`, else `$NEURALPATCH_DEVICE`, else the first GPU, else
the first device): "P:D" platform and device indices, or a case-insensitive substring of the
platform or device name ("pocl", "nvidia", "epyc").

Build caches live in `cache_dir("opencl")`, so a second start skips the compiler:
- PoCL caches builds itself (pyopencl skips its binary cache for PoCL); `POCL_CACHE_DIR` is
  pointed at `cache_dir("opencl", "pocl")` before PoCL initialises. PoCL also compiles each
  kernel's work-group function on first launch and caches that in the same folder. Program
  binaries are also stored in `cache_dir("opencl", "binaries")`, checksummed: building from
  one skips even PoCL's cached build (`opencl_programs.py`).
- Other drivers use pyopencl's binary cache, given `cache_dir("opencl", "pyopencl")`.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuralpatch.engine import kernel_cache
from neuralpatch.engine.errors import DeviceError
from neuralpatch.engine.opencl_programs import build_program
from neuralpatch.engine.paths import cache_dir

if TYPE_CHECKING:
    import pyopencl as cl

DEVICE_ENV = "NEURALPATCH_DEVICE"
NO_PLATFORM_HELP = (
    "no OpenCL platform found: `pip install pocl-binary-distribution` gives a "
    "CPU device, or install your GPU vendor's OpenCL driver"
)

_runtimes: dict[tuple[int, int], Runtime] = {}
_runtimes_lock = threading.Lock()


_healed = False


def _point_caches_at_user_folder() -> None:
    """Direct PoCL's kernel cache into our cache folder and drop damaged entries from it (see
    `kernel_cache.py`); must run before PoCL initialises."""
    global _healed
    os.environ.setdefault("POCL_CACHE_DIR", str(cache_dir("opencl", "pocl")))
    os.environ.setdefault("POCL_KERNEL_CACHE", "1")
    if not _healed:
        _healed = True
        if (root := _managed_pocl_cache()) is not None:
            kernel_cache.heal(root)


def _managed_pocl_cache() -> Path | None:
    """PoCL's cache folder when it is ours (a POCL_CACHE_DIR set by the user is left alone)."""
    ours = cache_dir("opencl", "pocl")
    current = os.environ.get("POCL_CACHE_DIR", "")
    return ours if current and Path(current).resolve() == ours.resolve() else None


def _import_pyopencl():
    _point_caches_at_user_folder()
    import pyopencl

    return pyopencl


def list_devices() -> list[tuple[int, int, str, str]]:
    """(platform index, device index, platform name, device name) for every device."""
    cl = _import_pyopencl()
    try:
        platforms = cl.get_platforms()
    except cl.Error as exc:  # the ICD loader reports "no platforms" as an error
        raise DeviceError(f"{NO_PLATFORM_HELP} ({exc})") from exc
    found = []
    for p, platform in enumerate(platforms):
        try:
            devices = platform.get_devices()
        except cl.Error:
            continue
        found += [(p, d, platform.name.strip(), dev.name.strip()) for d, dev in enumerate(devices)]
    if not found:
        raise DeviceError(NO_PLATFORM_HELP)
    return found


def select_device(spec: str | None = None) -> tuple[int, int]:
    """Resolve a device spec (see the module docstring) to (platform, device) indices."""
    cl = _import_pyopencl()
    found = list_devices()
    spec = (spec if spec is not None else os.environ.get(DEVICE_ENV, "")).strip()
    choices = ", ".join(f"{p}:{d} {pn} / {dn}" for p, d, pn, dn in found)
    if not spec:
        platforms = cl.get_platforms()
        for p, d, _, _ in found:
            if platforms[p].get_devices()[d].type & cl.device_type.GPU:
                return p, d
        return found[0][0], found[0][1]
    match = re.fullmatch(r"(\d+):(\d+)", spec)
    if match:
        wanted = (int(match[1]), int(match[2]))
        if any((p, d) == wanted for p, d, _, _ in found):
            return wanted
        raise DeviceError(f"no OpenCL device {spec!r}; available: {choices}")
    needle = spec.lower()
    for p, d, platform_name, device_name in found:
        if needle in platform_name.lower() or needle in device_name.lower():
            return p, d
    raise DeviceError(f"no OpenCL device matches {spec!r}; available: {choices}")


def get_runtime(device: str | None = None) -> Runtime:
    """The process-wide runtime for a device spec (created on first use)."""
    key = select_device(device)
    with _runtimes_lock:
        if key not in _runtimes:
            _runtimes[key] = Runtime(*key)
        return _runtimes[key]


class Runtime:
    """Context, in-order queue, program cache and a buffer pool for one device."""

    def __init__(self, platform_index: int, device_index: int):
        cl = self.cl = _import_pyopencl()
        self.platform = cl.get_platforms()[platform_index]
        self.device = self.platform.get_devices()[device_index]
        self.is_pocl = "portable computing language" in self.platform.name.lower()
        self.context = cl.Context([self.device])
        self.queue = cl.CommandQueue(self.context)
        self._profiling_queue: cl.CommandQueue | None = None
        self._programs: dict[tuple[str, str], cl.Program] = {}
        self._build_log: list[dict[str, Any]] = []
        self._free: dict[int, list[cl.Buffer]] = defaultdict(list)
        self._lock = threading.Lock()
        self.cache_folder = cache_dir("opencl")
        self.binary_folder = cache_dir("opencl", "binaries")

    # -- queues -------------------------------------------------------------------------------
    @property
    def profiling_queue(self) -> cl.CommandQueue:
        """A second queue with event profiling, for per-layer timing in debug runs."""
        with self._lock:
            if self._profiling_queue is None:
                self._profiling_queue = self.cl.CommandQueue(
                    self.context, properties=self.cl.command_queue_properties.PROFILING_ENABLE
                )
            return self._profiling_queue

    # -- programs -----------------------------------------------------------------------------
    def program(self, filename: str, options: str = "") -> cl.Program:
        """Build a `.cl` file once per runtime and options (disk caches make rebuilds cheap)."""
        key = (filename, options)
        with self._lock:
            if key in self._programs:
                return self._programs[key]
        before = self._pocl_entries() if self.is_pocl else set()
        start = time.perf_counter()
        if self.is_pocl:  # stored binaries (PoCL skips pyopencl's binary cache)
            program, from_binary = build_program(
                self.cl, self.context, self.device, filename, options, self.binary_folder
            )
            from_cache = from_binary or not (self._pocl_entries() - before)
        else:
            program, _ = build_program(
                self.cl,
                self.context,
                self.device,
                filename,
                options,
                None,
                cache_dir=str(cache_dir("opencl", "pyopencl")),
            )
            from_cache = bool(getattr(program, "_build_duration_info", (None, False))[1])
        seconds = time.perf_counter() - start
        if self.is_pocl and not from_cache:
            self.record_kernel_cache()
        with self._lock:
            self._programs.setdefault(key, program)
            self._build_log.append(
                {
                    "file": filename,
                    "options": options,
                    "from_disk_cache": from_cache,
                    "seconds": round(seconds, 4),
                }
            )
            return self._programs[key]

    def record_kernel_cache(self) -> None:
        """Checksum the kernel cache as it is now: call once new kernels have been launched
        (PoCL compiles a kernel's work-group function on its first launch)."""
        if self.is_pocl and (root := _managed_pocl_cache()) is not None:
            kernel_cache.record(root)

    def _pocl_entries(self) -> set[str]:
        """PoCL's program folders (`<device hash>/<program hash>`): a new one means a cold build."""
        root = Path(os.environ.get("POCL_CACHE_DIR", ""))
        if not root.is_dir():
            return set()
        return {f"{d.name}/{p.name}" for d in root.iterdir() if d.is_dir() for p in d.iterdir()}

    # -- buffers ------------------------------------------------------------------------------
    def alloc(self, nbytes: int) -> cl.Buffer:
        """A device buffer of `nbytes`, reusing a freed one of the same size when there is one."""
        nbytes = max(int(nbytes), 4)
        with self._lock:
            if self._free[nbytes]:
                return self._free[nbytes].pop()
        try:
            return self.cl.Buffer(self.context, self.cl.mem_flags.READ_WRITE, nbytes)
        except self.cl.Error as exc:
            raise DeviceError(
                f"cannot allocate {nbytes} bytes on {self.device.name}: {exc}"
            ) from exc

    def free(self, buffer: cl.Buffer) -> None:
        """Give a buffer back to the pool for reuse."""
        with self._lock:
            self._free[buffer.size].append(buffer)

    def upload(self, array) -> cl.Buffer:
        """A new device buffer holding a copy of a contiguous numpy array."""
        buffer = self.alloc(array.nbytes)
        self.cl.enqueue_copy(self.queue, buffer, array, is_blocking=True)
        return buffer

    # -- description --------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Platform, device and cache facts, for `--verbose` output and bug reports."""
        builds = list(self._build_log)
        if not builds:
            state = "nothing built yet"
        elif all(b["from_disk_cache"] for b in builds):
            state = "warm (all programs from the disk cache)"
        elif not any(b["from_disk_cache"] for b in builds):
            state = "cold (all programs built from source)"
        else:
            state = "mixed"
        return {
            "platform": self.platform.name.strip(),
            "platform_version": self.platform.version.strip(),
            "device": self.device.name.strip(),
            "device_type": self.cl.device_type.to_string(self.device.type),
            "compute_units": self.device.max_compute_units,
            "native_float_width": self.device.native_vector_width_float,
            "cl_khr_fp16": "cl_khr_fp16" in self.device.extensions.split(),
            "global_memory_mb": self.device.global_mem_size // 2**20,
            "cache_dir": str(self.cache_folder),
            "cache_mechanism": (
                f"PoCL kernel cache (POCL_CACHE_DIR={os.environ.get('POCL_CACHE_DIR')}) and "
                f"program binaries in {self.binary_folder}"
                if self.is_pocl
                else "pyopencl binary cache"
            ),
            "cache_state": state,
            "builds": builds,
        }
