"""Photos shrunk for augmentation, kept in a bounded cache: a rand-tilt-shift view is cut from
a 256-pixel copy, not from the full photo decoded again at every step."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuralpatch.engine.image_io import decode_image

WORK_IMAGE_SIDE = 256  # augmentation works on photos shrunk to this short side
WORK_IMAGE_CACHE = 512


class WorkImages:
    """`get(path)` decodes and shrinks a photo once; the oldest of `capacity` go first."""

    def __init__(self, capacity: int = WORK_IMAGE_CACHE) -> None:
        self.capacity = capacity
        self._images: dict[Path, np.ndarray] = {}

    def get(self, path: Path) -> np.ndarray:
        """Raises ImageError for a photo that no longer decodes."""
        image = self._images.get(path)
        if image is None:
            image = shrink(decode_image(path), WORK_IMAGE_SIDE)
            if len(self._images) >= self.capacity:
                self._images.pop(next(iter(self._images)))
            self._images[path] = image
        return image


def shrink(rgb: np.ndarray, side: int) -> np.ndarray:
    """The photo scaled down so its short side is `side` (augmentation works at this size)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = side / min(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
