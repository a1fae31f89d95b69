"""One feature-cache entry on disk: a checksummed header and the pooled features.

`<folder>/<2 hex>/<sha256 of the photo>.feat` holds `NPF1`, the feature count (u32 LE), the
CRC-32 of the key's 32 bytes followed by the values (u32 LE), then the values as float32 LE.
Any mismatch — length, magic, count, checksum — or a non-finite value makes the entry
"damaged": it is recomputed and rewritten, never used. Entries are written atomically (temp
file, rename) but not fsynced: the cache can always be rebuilt, and a lost or torn entry after
a power cut is caught by its checksum, so an fsync per entry (0.8 ms, most of a photo's
budget) would buy nothing.

Imported by extraction worker processes and cluster workers: nothing here touches OpenCL.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from pathlib import Path

import numpy as np

MAGIC = b"NPF1"
_HEADER = struct.Struct("<4sII")  # magic, feature count, CRC-32 of key + values
SUFFIX = ".feat"


def entry_path(folder: Path, digest: str) -> Path:
    return folder / digest[:2] / f"{digest}{SUFFIX}"


def encode_entry(digest: str, vector: np.ndarray) -> bytes:
    values = np.ascontiguousarray(vector, dtype="<f4").tobytes()
    crc = zlib.crc32(values, zlib.crc32(bytes.fromhex(digest)))
    return _HEADER.pack(MAGIC, len(values) // 4, crc) + values


def decode_entry(digest: str, raw: bytes, dim: int) -> np.ndarray | None:
    """The entry's features, or None if it is damaged in any way (then it is recomputed)."""
    if len(raw) != _HEADER.size + 4 * dim:
        return None
    magic, count, crc = _HEADER.unpack_from(raw)
    values = raw[_HEADER.size :]
    if magic != MAGIC or count != dim:
        return None
    if zlib.crc32(values, zlib.crc32(bytes.fromhex(digest))) != crc:
        return None
    vector = np.frombuffer(values, dtype="<f4").astype(np.float32)
    return vector if np.isfinite(vector).all() else None


def read_entry(folder: Path, digest: str, dim: int) -> tuple[np.ndarray | None, bool]:
    """(features or None, whether an entry existed but was damaged)."""
    try:
        raw = entry_path(folder, digest).read_bytes()
    except OSError:
        return None, False
    vector = decode_entry(digest, raw, dim)
    return vector, vector is None


def write_entry(folder: Path, digest: str, vector: np.ndarray) -> bool:
    """Write one entry atomically without fsync; False (nothing written) for non-finite values.

    A full disk or a read-only cache costs the cache, never the run: the error is swallowed
    and the features are simply recomputed next time. The temp file is named after the
    process and thread (a unique writer at any moment) rather than by `mkstemp`, and each
    `<2 hex>` folder is created once per process: together a third of an entry's cost.
    """
    if not np.isfinite(vector).all():
        return False
    path = entry_path(folder, digest)
    data = encode_entry(digest, vector)
    try:
        if path.parent not in _made:
            path.parent.mkdir(exist_ok=True)
            _made.add(path.parent)
        try:
            _replace(path, data)
        except FileNotFoundError:  # the folder went away (a cleared cache): make it again
            path.parent.mkdir(exist_ok=True)
            _replace(path, data)
    except OSError:
        return False
    return True


def _replace(path: Path, data: bytes) -> None:
    tmp = path.parent / f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_made: set[Path] = set()  # `<2 hex>` folders this process created or found
