"""`rand-tilt-shift`: random tilt, small shift and scale, and a colour shift of a photo.

Augmented views differ every time, so their features cannot be cached: they go through the
base pass, batched, at training time.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_TILT_DEG = 15.0
MAX_SHIFT = 0.08  # of the image size
SCALE_RANGE = (0.9, 1.12)
COLOUR_GAIN = 0.12  # per-channel multiplicative jitter
BRIGHTNESS = 20.0  # additive, on 0-255


def rand_tilt_shift(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random augmented view of an RGB uint8 image, same size, borders reflected."""
    h, w = rgb.shape[:2]
    angle = rng.uniform(-MAX_TILT_DEG, MAX_TILT_DEG)
    scale = rng.uniform(*SCALE_RANGE)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[:, 2] += rng.uniform(-MAX_SHIFT, MAX_SHIFT, size=2) * (w, h)
    out = cv2.warpAffine(
        rgb, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    if rng.random() < 0.5:
        out = out[:, ::-1]
    gain = 1.0 + rng.uniform(-COLOUR_GAIN, COLOUR_GAIN, size=3)
    shift = rng.uniform(-BRIGHTNESS, BRIGHTNESS)
    return np.clip(out.astype(np.float32) * gain + shift, 0, 255).astype(np.uint8)
