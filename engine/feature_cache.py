"""Pooled features of un-augmented photos, computed once and kept on disk.

The base network is frozen, so a photo's features only change when its bytes or the base
network change: the cache key is the SHA-256 of the file's content, in a folder per base
network fingerprint. A restart, or a second patch trained on the same photos, costs nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.base_network import BaseNetwork
from neuralpatch.engine.errors import ImageError
from neuralpatch.engine.image_io import decode_image, read_photo_bytes
from neuralpatch.engine.paths import cache_dir

BATCH = 16
Progress = Callable[[int, int, str], None]


@dataclass
class FeatureSet:
    """Features for the photos that decoded; `failed` names the ones that did not, and why."""

    features: dict[Path, np.ndarray] = field(default_factory=dict)
    failed: dict[Path, str] = field(default_factory=dict)
    computed: int = 0  # how many went through the base pass (the rest came from the cache)


class FeatureCache:
    def __init__(self, base: BaseNetwork, folder: Path | None = None):
        self.base = base
        self.folder = folder or cache_dir("features", base.fingerprint)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _entry(self, digest: str) -> Path:
        return self.folder / f"{digest}.f32"

    def _read(self, digest: str) -> np.ndarray | None:
        try:
            raw = self._entry(digest).read_bytes()
        except OSError:
            return None
        if len(raw) != 4 * self.base.feature_dim:
            return None  # a damaged entry is simply recomputed
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)

    def features_for(
        self,
        paths: Sequence[Path],
        on_progress: Progress | None = None,
        stop: threading.Event | None = None,
    ) -> FeatureSet:
        """Features of every photo in `paths`; undecodable ones are reported, not fatal."""
        result = FeatureSet()
        pending: list[Path] = []
        for path in map(Path, paths):
            content = self._content(path, result)
            if content is None:
                continue
            cached = self._read(content[1])
            if cached is None:
                pending.append(path)
            else:
                result.features[path] = cached
        total, done = len(paths), len(paths) - len(pending)
        if on_progress:
            on_progress(done, total, "cached")
        for start in range(0, len(pending), BATCH):
            if stop is not None and stop.is_set():
                break
            batch, images = [], []
            for path in pending[start : start + BATCH]:
                # Read again and key by these bytes: the photo may have changed meanwhile
                # (a snap landing in the folder), and its features must match its key.
                content = self._content(path, result)
                if content is None:
                    continue
                try:
                    images.append(decode_image(path, content[0]))
                    batch.append((path, content[1]))
                except ImageError as exc:
                    result.failed[path] = exc.message
            if images:
                features = self.base.run(images).features
                for (path, digest), vector in zip(batch, features, strict=True):
                    write_atomic(self._entry(digest), vector.astype("<f4").tobytes())
                    result.features[path] = vector
                    result.computed += 1
            done += len(pending[start : start + BATCH])
            if on_progress:
                on_progress(done, total, pending[min(start + BATCH, len(pending)) - 1].name)
        return result

    @staticmethod
    def _content(path: Path, result: FeatureSet) -> tuple[bytes, str] | None:
        """(bytes, SHA-256) of a photo, or None with the reason noted in `result.failed`."""
        try:
            data = read_photo_bytes(path)  # regular files only, size-capped
        except ImageError as exc:
            result.failed[path] = exc.message
            return None
        return data, hashlib.sha256(data).hexdigest()
