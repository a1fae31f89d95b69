"""Building kernel programs: `.cl` sources from the package, the build itself, and build errors
that name the `.cl` file and line.

A second start should not pay for compiling: PoCL's own cache still costs 70-120 ms per
program (7 programs: most of a warm start), while building from the program's binary takes
2-10 ms (docs/performance.md). So after a source build the binary is stored in
`cache_dir("opencl", "binaries")` as `<key>.bin`: the SHA-256 of the binary, then the binary.
The key hashes all the binary depends on (source, options, platform, device, driver). A file
that fails its checksum, or that the driver refuses, is deleted and the program is built from
source again (and stored anew), so a damaged cache costs one rebuild, never a crash or an error.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.errors import KernelBuildError

if TYPE_CHECKING:
    import pyopencl as cl

KERNEL_PACKAGE = "neuralpatch.kernels"
COMMON_SOURCE = "common.cl"  # macros and types every kernel shares, prepended to each
DIGEST = 32  # bytes of SHA-256 in front of a stored binary
log = logging.getLogger(__name__)


def kernel_source(filename: str) -> str:
    """Text of a `.cl` file shipped in `neuralpatch.kernels`."""
    try:
        return importlib.resources.files(KERNEL_PACKAGE).joinpath(filename).read_text("utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise KernelBuildError(f"kernel source not found: {exc}", filename) from exc


def program_source(filename: str) -> str:
    """A kernel's source with the shared `common.cl` in front (`#line 1` keeps error lines)."""
    return f"{kernel_source(COMMON_SOURCE)}\n#line 1\n{kernel_source(filename)}"


def kernel_path(filename: str) -> Path:
    """Where a `.cl` file lives (for error messages)."""
    return Path(str(importlib.resources.files(KERNEL_PACKAGE).joinpath(filename)))


def binary_file(folder: Path, device: cl.Device, source: str, options: str) -> Path:
    """Where the binary of `source` built with `options` for `device` is stored."""
    platform = device.platform
    parts = (source, options, platform.name, platform.version, device.name, device.version)
    parts += (device.driver_version,)
    key = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()
    return folder / f"{key[:40]}.bin"


def read_binary(path: Path) -> bytes | None:
    """The stored binary at `path`, or None (absent, or damaged: then it is deleted)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    payload = raw[DIGEST:]
    if not payload or hashlib.sha256(payload).digest() != raw[:DIGEST]:
        log.warning("program binary %s failed its checksum: building from source", path)
        path.unlink(missing_ok=True)
        return None
    return payload


def build_program(
    cl,
    context: cl.Context,
    device: cl.Device,
    filename: str,
    options: str,
    folder: Path | None,
    **build_kwargs,
) -> tuple[cl.Program, bool]:
    """(program, built from a stored binary?); `folder` None: no binary cache (source only).

    `build_kwargs` go to pyopencl's source build (its own `cache_dir` for other drivers).
    """
    source = program_source(filename)
    stored = binary_file(folder, device, source, options) if folder is not None else None
    if stored is not None and (binary := read_binary(stored)) is not None:
        try:
            return cl.Program(context, [device], [binary]).build(options=options), True
        except cl.Error as exc:  # another driver build, a binary it no longer accepts
            log.warning("program binary %s refused (%s): building from source", stored, exc)
            stored.unlink(missing_ok=True)
    program = None
    try:
        program = cl.Program(context, source)
        program.build(options=options, **build_kwargs)
    except cl.Error as exc:
        try:
            log_text = (
                program.get_build_info(device, cl.program_build_info.LOG)
                if program is not None
                else ""
            )
        except cl.Error:
            log_text = ""
        raise build_error(filename, options, log_text.strip() or str(exc)) from exc
    if stored is not None:
        try:
            write_atomic(stored, _with_digest(program.binaries[0]))
        except (cl.Error, OSError) as exc:  # a read-only cache only costs speed
            log.warning("cannot store program binary %s: %s", stored, exc)
    return program, False


def _with_digest(binary: bytes) -> bytes:
    return hashlib.sha256(binary).digest() + bytes(binary)


def build_error(filename: str, options: str, log_text: str) -> KernelBuildError:
    """A KernelBuildError naming the `.cl` file, its first error line and the build log."""
    log_text = re.sub(r"\S*(?:tempfile_\w+\.cl|<source>)", filename, log_text)
    match = re.search(re.escape(filename) + r":(\d+):\d+", log_text)
    return KernelBuildError(
        f"OpenCL build failed (options: {options or 'none'}):\n{log_text}",
        kernel_path(filename),
        int(match[1]) if match else None,
    )
