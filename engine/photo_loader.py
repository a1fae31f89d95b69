"""The per-photo half of extraction: read once, hash once, look up the cache, decode, crop.

`load_chunk` is what an extraction worker process runs (it is picklable and touches no
OpenCL); the pipeline runs the same function in its own thread for small jobs. A photo that
cannot be read or decoded comes back with its reason, never as an exception, so one bad file
costs one counted skip.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralpatch.engine.errors import ImageError
from neuralpatch.engine.feature_entry import read_entry
from neuralpatch.engine.image_io import read_photo_bytes
from neuralpatch.engine.input_pixels import input_pixels


@dataclass
class LoadedPhoto:
    """One photo ready for the base pass (`pixels`), found in the cache (`features`), or not."""

    index: int  # position in the caller's list
    digest: str | None = None  # SHA-256 of the bytes that were decoded
    pixels: np.ndarray | None = None  # (H, W, 3) uint8 at the input size
    features: np.ndarray | None = None  # from the cache
    error: str | None = None
    damaged: bool = False  # a cache entry existed but failed its checksum


@dataclass(frozen=True)
class LoadSpec:
    """What a worker needs to know besides the paths (small, sent with every chunk)."""

    size: tuple[int, int]  # the base network's input (H, W)
    cache_folder: str | None  # None: do not look in the cache
    feature_dim: int


def read_photo(path: Path) -> tuple[bytes, str]:
    """The file's bytes and their SHA-256; raises ImageError naming the file."""
    data = read_photo_bytes(path)  # regular files only, size-capped
    return data, hashlib.sha256(data).hexdigest()


def load_photo(index: int, path: Path, spec: LoadSpec) -> LoadedPhoto:
    loaded = LoadedPhoto(index)
    try:
        data, loaded.digest = read_photo(path)
        if spec.cache_folder is not None:
            cached, loaded.damaged = read_entry(
                Path(spec.cache_folder), loaded.digest, spec.feature_dim
            )
            if cached is not None:
                loaded.features = cached
                return loaded
        loaded.pixels = input_pixels(path, data, spec.size)
    except ImageError as exc:
        loaded.error = exc.message
    return loaded


def load_chunk(jobs: list[tuple[int, str]], spec: LoadSpec) -> list[LoadedPhoto]:
    """`load_photo` for each (index, path); runs in a worker process."""
    return [load_photo(index, Path(path), spec) for index, path in jobs]
