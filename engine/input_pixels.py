"""A photo's bytes straight to the base network's input pixels, decoding no more than needed.

Gives the same pixels as `preprocess.centre_crop_resize(decode_image(...))` — the crop and
resize `to_input` applies — so a photo's features do not depend on the path it took. A JPEG
whose centre crop is at least `DRAFT_MARGIN` times the input side even after libjpeg's DCT
scaling (1/2, 1/4 or 1/8) is decoded at that scale and the crop box is mapped onto the smaller
image; anything else is decoded in full and goes through `centre_crop_resize` itself, so it
is bit-identical. Measured on the 41 sample photos at the smallest ratio the margin allows
(decoded crop 4.1x the input side): mean |difference| 0.25 grey levels at 1/2 scale and 0.37
at 1/4 (worst photo 0.45 and 0.69, largest single difference 10), against a full decode. At
1/2 scale with no margin it would be 1.9 levels and 12 % of top-1 classes would change, at a
margin of 3 still 0.36-0.47 levels, hence 4. With the 224 input, only photos whose short
side is at least 2,048 pixels are drafted (a 12-megapixel phone photo at 1/2 scale).

Runs in extraction worker processes: nothing here touches OpenCL.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from neuralpatch.engine.image_io import LARGE_PHOTO_PIXELS, decode_image
from neuralpatch.engine.preprocess import CROP_FRACTION, centre_crop_resize

DRAFT_MARGIN = 4  # the drafted crop must still be this many times the input side
_SCALES = (8, 4, 2)
_ORIENTATION = 0x0112  # the EXIF tag
# A header that Pillow cannot parse is left to decode_image, which names the problem.
_HEADER_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def _jpeg_header(data: bytes) -> tuple[tuple[int, int], bool] | None:
    """((width, height) as stored, whether the plain path may decode it) for a JPEG, or None.

    Plain: RGB, upright (no EXIF rotation), no larger than image_io's LARGE_PHOTO_PIXELS nor
    Pillow's bomb limit, so `decode_image` would do nothing to it but decode it.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # decode_image reports what matters
            with Image.open(io.BytesIO(data)) as img:
                if img.format != "JPEG":
                    return None
                w, h = img.size
                plain = (
                    img.mode == "RGB"
                    and w * h <= min(LARGE_PHOTO_PIXELS, Image.MAX_IMAGE_PIXELS or w * h)
                    and img.getexif().get(_ORIENTATION, 1) == 1
                )
                return img.size, plain
    except _HEADER_ERRORS:
        return None


def draft_scale(width: int, height: int, side: int) -> int:
    """The DCT scale (1, 2, 4 or 8) a photo may be decoded at for an input of `side`."""
    crop = round(min(width, height) * CROP_FRACTION)
    return next((s for s in _SCALES if crop / s >= DRAFT_MARGIN * side), 1)


def input_pixels(path: str | Path, data: bytes, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 pixels at the input `size` (H, W): centre crop, bicubic resize.

    Raises ImageError (from decode_image) for a file that is not a usable image.
    """
    header = _jpeg_header(data)
    stored, plain = header if header else (None, False)
    scale = draft_scale(*stored, max(size)) if stored else 1
    if plain:
        # Cropped and resized as a Pillow image: the same pixels as the general path below
        # without its two full-size copies (EXIF transpose, to an array and back), which
        # cost more than the decoding itself for the sample photos.
        pixels = _plain_pixels(data, stored, scale, size)
        if pixels is not None:
            return pixels
    if scale == 1:
        return centre_crop_resize(decode_image(path, data), size)
    width, height = stored
    rgb = decode_image(path, data, draft=(width // scale, height // scale))
    drafted = (-(-height // scale), -(-width // scale))
    if rgb.shape[:2] == drafted[::-1]:  # EXIF rotated it a quarter turn
        width, height = height, width
    elif rgb.shape[:2] != drafted:  # libjpeg declined to scale: the full image it is
        return centre_crop_resize(rgb, size)
    outer, inner = _boxes(width, height, scale)
    crop = Image.fromarray(np.ascontiguousarray(rgb[outer[1] : outer[3], outer[0] : outer[2]]))
    return np.asarray(crop.resize((size[1], size[0]), Image.Resampling.BICUBIC, box=inner))


def _boxes(width: int, height: int, scale: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The centre crop on a photo decoded at 1/scale: the whole pixels around it (`outer`),
    and the crop inside those (`inner`). Cropping to `outer` first lets the filter see
    (almost) only pixels of the crop, as centre_crop_resize's filter does."""
    side = max(1, round(min(width, height) * CROP_FRACTION))
    top, left = (height - side) // 2, (width - side) // 2
    box = (left / scale, top / scale, (left + side) / scale, (top + side) / scale)
    outer = (math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3]))
    inner = (box[0] - outer[0], box[1] - outer[1], box[2] - outer[0], box[3] - outer[1])
    return outer, inner


def _plain_pixels(
    data: bytes, stored: tuple[int, int], scale: int, size: tuple[int, int]
) -> np.ndarray | None:
    """A plain JPEG's input pixels, or None (then the general path decodes it, and names
    the problem if there is one)."""
    width, height = stored
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                if scale > 1:
                    img.draft("RGB", (width // scale, height // scale))
                img.load()
                if img.mode != "RGB" or img.size != (-(-width // scale), -(-height // scale)):
                    return None
                if scale == 1:
                    side = max(1, round(min(width, height) * CROP_FRACTION))
                    top, left = (height - side) // 2, (width - side) // 2
                    crop = img.crop((left, top, left + side, top + side))
                    out = crop.resize((size[1], size[0]), Image.Resampling.BICUBIC)
                else:
                    outer, inner = _boxes(width, height, scale)
                    crop = img.crop(outer)
                    out = crop.resize((size[1], size[0]), Image.Resampling.BICUBIC, box=inner)
                return np.asarray(out)
    except _HEADER_ERRORS:
        return None
