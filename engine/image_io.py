"""Reading and writing photos as H×W×3 uint8 RGB arrays, with one error type for bad files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.errors import ImageError

# Pillow raises these for unreadable, truncated or hostile files; nothing else is expected.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def decode_image(path: str | Path, data: bytes | None = None) -> np.ndarray:
    """Decode an image file to RGB, upright as the camera meant it (EXIF orientation applied).

    `data`: the file's bytes, already read (so what is decoded is exactly what was hashed).
    Raises ImageError naming the file for a missing, empty, truncated or non-image file, so a
    single bad photo can be reported and skipped instead of stopping feature extraction.
    """
    path = Path(path)
    try:
        with Image.open(path if data is None else io.BytesIO(data)) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)
            rgb = np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError as exc:
        raise ImageError("file not found", path) from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(f"cannot decode image: {exc}", path) from exc
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageError(f"decoded to an unusable shape {rgb.shape}", path)
    return rgb


def encode_jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    """JPEG bytes of an H×W×3 uint8 RGB array."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 uint8 array, got {rgb.dtype} {rgb.shape}")
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def save_jpeg_atomic(path: str | Path, rgb: np.ndarray, quality: int = 92) -> Path:
    """Write a JPEG so a crash never leaves a half-written photo in a dataset folder."""
    return write_atomic(path, encode_jpeg(rgb, quality))
