"""Decoding straight to input pixels gives what `to_input`'s crop and resize give."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from neuralpatch.engine.errors import ImageError
from neuralpatch.engine.image_io import decode_image
from neuralpatch.engine.input_pixels import (
    DRAFT_MARGIN,
    _boxes,
    _plain_pixels,
    draft_scale,
    input_pixels,
)
from neuralpatch.engine.preprocess import centre_crop_resize


@pytest.fixture(scope="module")
def jpegs(sample_data) -> list[bytes]:
    return [p.read_bytes() for p in sorted(sample_data.glob("*.jpg"))[::5]]


def rotated(data: bytes, orientation: int) -> bytes:
    """The same JPEG with an EXIF orientation tag (what phones write)."""
    with Image.open(io.BytesIO(data)) as img:
        exif = Image.Exif()
        exif[0x0112] = orientation
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=95, exif=exif)
    return out.getvalue()


def test_undrafted_photos_give_identical_pixels(jpegs):
    assert draft_scale(800, 600, 224) == 1  # the sample photos are decoded in full
    for data in jpegs:
        want = centre_crop_resize(decode_image("x.jpg", data), (224, 224))
        np.testing.assert_array_equal(input_pixels("x.jpg", data, (224, 224)), want)


@pytest.mark.parametrize("side, scale", [(64, 2), (32, 4)])
def test_drafted_photos_stay_within_a_fraction_of_a_grey_level(jpegs, side, scale):
    """A smaller input side makes the 800x600 photos big enough to be drafted, at the same
    ratios a 12-megapixel photo is drafted at for the 224 input."""
    assert draft_scale(800, 600, side) == scale
    means = []
    for data in jpegs + [rotated(jpegs[0], 6), rotated(jpegs[1], 3)]:
        want = centre_crop_resize(decode_image("x.jpg", data), (side, side)).astype(int)
        got = input_pixels("x.jpg", data, (side, side)).astype(int)
        assert got.shape == want.shape == (side, side, 3)
        means.append(np.abs(got - want).mean())
        assert means[-1] < 0.8 and np.abs(got - want).max() <= 14
    assert np.mean(means) < 0.4


@pytest.mark.parametrize("side, scale", [(224, 1), (64, 2), (32, 4)])
def test_the_plain_jpeg_path_gives_the_general_paths_pixels(jpegs, side, scale):
    """Cropping and resizing a Pillow image (no EXIF copy, no array round trip) changes
    no pixel: the same as decode_image, the array crop and the resize, at every scale."""
    for data in jpegs:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
        rgb = decode_image("x.jpg", data, draft=(width // scale, height // scale))
        if scale == 1:
            want = centre_crop_resize(rgb, (side, side))
        else:
            outer, inner = _boxes(width, height, scale)
            rows, cols = slice(outer[1], outer[3]), slice(outer[0], outer[2])
            crop = Image.fromarray(np.ascontiguousarray(rgb[rows, cols]))
            want = np.asarray(crop.resize((side, side), Image.Resampling.BICUBIC, box=inner))
        got = _plain_pixels(data, (width, height), scale, (side, side))
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(input_pixels("x.jpg", data, (side, side)), want)


def test_a_truncated_jpeg_is_still_named(jpegs):
    with pytest.raises(ImageError, match="x.jpg"):
        input_pixels("x.jpg", jpegs[0][: len(jpegs[0]) // 2], (224, 224))


def test_the_margin_keeps_common_photos_undrafted():
    assert draft_scale(2047, 3000, 224) == 1
    assert draft_scale(4032, 3024, 224) == 2  # a phone photo: its crop is still 5.9x the input
    assert 3024 * 0.875 / 2 >= DRAFT_MARGIN * 224


def test_a_png_takes_the_full_decode(photos):
    out = io.BytesIO()
    Image.fromarray(photos["chelsea"]).save(out, format="PNG")
    got = input_pixels("cat.png", out.getvalue(), (32, 32))
    np.testing.assert_array_equal(got, centre_crop_resize(photos["chelsea"], (32, 32)))
