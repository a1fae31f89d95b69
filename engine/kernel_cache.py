"""Keeping PoCL's kernel cache healthy: a truncated or garbage cache entry crashes every later
run (SIGBUS or SIGABRT loading a cut `.so`, `INVALID_KERNEL_NAME` from a garbage
`program.bc`) until someone deletes it by hand.

After kernels are built and first launched, `record` writes the SHA-256 of every cache file
to a manifest. Before PoCL is loaded, `heal` checks the cache against it: a program folder
with a file that differs from the manifest is deleted, so PoCL builds it again (a missing
file PoCL rebuilds by itself). Files that no manifest lists (another process's builds, a
version that kept no manifest) are checked for their structure instead: a `program.bc` must
start with LLVM's bitcode magic and a `.so` must be an ELF file as long as its own section
table says; broken ones older than `FRESH_S` (a younger one may be a build in progress) are
deleted too. The manifest is written atomically; a garbage one counts as empty.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import struct
import time
from pathlib import Path

from neuralpatch.engine.atomic import write_atomic

MANIFEST = "neuralpatch-manifest.json"
FRESH_S = 120.0  # an unlisted file younger than this may be a build in progress elsewhere
_VOLATILE = {"last_accessed", MANIFEST}  # PoCL rewrites `last_accessed` on every use
log = logging.getLogger(__name__)


def _files(root: Path) -> dict[str, Path]:
    """Cache files by path relative to `root` (`XX/<program hash>/...`), volatile ones left out."""
    found = {}
    for path in root.glob("*/*/**/*"):
        if path.is_file() and path.name not in _VOLATILE:
            found[path.relative_to(root).as_posix()] = path
    return found


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _looks_whole(path: Path) -> bool:
    """A cheap structural check of an unlisted cache file: bitcode magic, or a whole ELF."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
            size = path.stat().st_size
    except OSError:
        return False
    if path.name == "program.bc":
        return head[:4] in (b"BC\xc0\xde", b"\xde\xc0\x17\x0b")  # raw or wrapped bitcode
    if path.suffix == ".so":
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit ELF only
            return False
        (shoff,) = struct.unpack_from("<Q", head, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", head, 0x3A)
        return size >= shoff + shentsize * shnum
    return True


def _read_manifest(root: Path) -> dict[str, str]:
    try:
        data = json.loads((root / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}


def record(root: Path) -> None:
    """Write the manifest of the cache as it is now (call after builds and first launches).

    Nothing is hashed when the manifest already lists exactly the files there are (PoCL adds
    files, never rewrites one; `heal` drops what it deletes from the manifest): every start
    calls this after its first launch, and hashing a large cache would cost every start.
    """
    if not root.is_dir():
        return
    present = _files(root)
    if present and set(present) == set(_read_manifest(root)):
        return
    files = {rel: digest for rel, path in present.items() if (digest := _digest(path))}
    _write_manifest(root, files)


def _write_manifest(root: Path, files: dict[str, str]) -> None:
    payload = json.dumps({"version": 1, "files": files}, indent=0, sort_keys=True)
    write_atomic(root / MANIFEST, payload.encode())


def heal(root: Path, now: float | None = None) -> list[str]:
    """Delete cache entries that do not match the manifest; returns what was deleted."""
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    manifest = _read_manifest(root)
    present = _files(root)
    bad_programs: set[str] = set()
    stray: list[str] = []
    for rel, path in present.items():
        program = "/".join(rel.split("/")[:2])
        if rel in manifest:
            if _digest(path) != manifest[rel]:
                bad_programs.add(program)
        elif not _looks_whole(path) and _age(path, now) > FRESH_S:
            (bad_programs.add(program) if rel.endswith("program.bc") else stray.append(rel))
    removed = []
    for program in sorted(bad_programs):
        shutil.rmtree(root / program, ignore_errors=True)
        removed.append(program)
    for rel in stray:
        if "/".join(rel.split("/")[:2]) not in bad_programs:
            (root / rel).unlink(missing_ok=True)
            removed.append(rel)
    if removed:
        gone = tuple(f"{program}/" for program in bad_programs)
        kept = {k: v for k, v in manifest.items() if k not in stray and not k.startswith(gone)}
        _write_manifest(root, kept)
        log.warning("kernel cache %s: rebuilt %d damaged entries: %s", root, len(removed), removed)
    return removed


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return 0.0
