"""Reading and writing photos as H×W×3 uint8 RGB arrays, with one error type for bad files.

Every photo becomes 8-bit RGB the same way whatever it was stored as: 16-bit samples keep
their top 8 bits (Pillow would clip a 16-bit grey PNG to white), grey and CMYK are
converted, and transparency is composited on BACKGROUND (white, as a viewer shows a
transparent PNG on a page). A photo over LARGE_PHOTO_PIXELS is decoded reduced (JPEG at a
lower DCT scale, others reduced right after decoding) to a short side of at least
DECODE_SHORT_SIDE, far more than the base pass (224×224) and augmentation (256) use. A photo
over Pillow's decompression-bomb limit (89.5 megapixels) is refused before decoding, as one
more skipped file. Bytes are read only from regular files of at most MAX_PHOTO_BYTES.
"""

from __future__ import annotations

import io
import os
import stat
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.errors import ImageError

MAX_PHOTO_BYTES = 256 << 20
LARGE_PHOTO_PIXELS = 16_000_000
DECODE_SHORT_SIDE = 1024
BACKGROUND = (255, 255, 255)
# Pillow raises these for unreadable, truncated or hostile files; nothing else is expected.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
# `warnings.catch_warnings` swaps process-wide state: one opener at a time. Opening only
# parses the header, so this serialises microseconds, not decoding.
_OPEN_LOCK = threading.Lock()


def read_photo_bytes(path: str | Path) -> bytes:
    """A photo file's bytes; ImageError for anything but a regular file within the cap.

    A FIFO would block forever and a link to /dev/zero would read until memory runs out:
    the file's type and size are checked on the open descriptor before reading.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with open(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ImageError("not a regular file", path)
            if info.st_size > MAX_PHOTO_BYTES:
                raise ImageError(f"is over the {MAX_PHOTO_BYTES} byte limit", path)
            data = f.read(MAX_PHOTO_BYTES + 1)
    except FileNotFoundError as exc:
        raise ImageError("file not found", path) from exc
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror or exc}", path) from exc
    if len(data) > MAX_PHOTO_BYTES:
        raise ImageError(f"is over the {MAX_PHOTO_BYTES} byte limit", path)
    return data


def decode_image(
    path: str | Path, data: bytes | None = None, *, draft: tuple[int, int] | None = None
) -> np.ndarray:
    """Decode an image file to RGB, upright as the camera meant it (EXIF orientation applied).

    `data`: the file's bytes, already read (so what is decoded is exactly what was hashed).
    `draft`: (width, height) a JPEG may be decoded down to, by libjpeg's DCT scaling (1/2,
    1/4, 1/8), never below it; other formats ignore it (see engine/input_pixels.py).
    Raises ImageError naming the file for a missing, empty, truncated, oversized or
    non-image file, so a single bad photo can be reported and skipped instead of stopping
    feature extraction.
    """
    path = Path(path)
    if data is None:
        data = read_photo_bytes(path)
    try:
        with _open(io.BytesIO(data), path) as img:
            if draft is not None and img.format == "JPEG":
                img.draft(img.mode, draft)
            rgb = _to_rgb(ImageOps.exif_transpose(_decoded(img)))
    except _DECODE_ERRORS as exc:
        raise ImageError(f"cannot decode image: {exc}", path) from exc
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageError(f"decoded to an unusable shape {rgb.shape}", path)
    return rgb


def _open(stream: io.BytesIO, path: Path) -> Image.Image:
    """Image.open with Pillow's bomb warning made an ImageError (it would print raw text)."""
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(stream)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise ImageError(f"too many pixels to decode safely ({exc}); skipped", path) from None


def _decoded(img: Image.Image) -> Image.Image:
    """The decoded image, reduced while decoding when it is much larger than ever needed."""
    w, h = img.size
    if w * h <= LARGE_PHOTO_PIXELS or min(w, h) < 2 * DECODE_SHORT_SIDE:
        img.load()
        return img
    factor = min(w, h) // DECODE_SHORT_SIDE
    target = (max(1, w // factor), max(1, h // factor))
    if img.format == "JPEG":
        img.draft(img.mode, target)  # decodes at 1/2, 1/4 or 1/8 scale, at least `target`
    img.load()
    factor = min(img.size) // DECODE_SHORT_SIDE
    return img.reduce(factor) if factor >= 2 else img


def _to_rgb(img: Image.Image) -> np.ndarray:
    """H×W×3 uint8 RGB, whatever the stored mode (see the module docstring)."""
    if img.mode in _SIXTEEN_BIT_MODES or img.mode == "F":
        values = np.asarray(img)
        if img.mode != "F":
            values = values.astype(np.int64) >> 8  # 16-bit samples: keep the top byte
        grey = np.clip(values, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        flat.alpha_composite(rgba)
        img = flat
    return np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)


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
