"""Photos stored in any common way decode to the same RGB, and huge ones cost little.

Made from the real chelsea photo: 16-bit grey, 16-bit RGB and RGBA PNGs (scaled by 257, so
the top byte is the 8-bit original), a CMYK JPEG, transparent PNGs; a 24-megapixel JPEG is
decoded reduced; a real 169-megapixel PNG is a counted skip, in a child process whose peak
memory is measured. The sample photos decode upright (EXIF), from bytes already read, and
undecodable files are errors naming the file; snaps are saved as JPEG atomically.
"""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from neuralpatch.engine.errors import ImageError
from neuralpatch.engine.image_io import (
    BACKGROUND,
    DECODE_SHORT_SIDE,
    decode_image,
    save_jpeg_atomic,
)

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
PHOTOS = sorted(SAMPLE.glob("*.jpg"))
DOMESTIC = "n02121808"


@pytest.fixture(scope="module")
def chelsea(photos) -> np.ndarray:
    return photos["chelsea"]


def grey_of(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"))


def test_a_16_bit_grey_png_is_not_white(chelsea, tmp_path):
    grey = grey_of(chelsea)
    path = tmp_path / "grey16.png"
    Image.fromarray(grey.astype(np.uint16) * 257).save(path)  # a real I;16 PNG
    with Image.open(path) as img:
        assert img.mode.startswith("I;16")
    rgb = decode_image(path)
    assert rgb.shape == (*grey.shape, 3)
    assert np.array_equal(rgb[:, :, 0], grey) and np.array_equal(rgb[:, :, 2], grey)


def test_16_bit_rgb_and_rgba_pngs(chelsea, tmp_path):
    sixteen = chelsea.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "rgb16.png"), sixteen[:, :, ::-1])
    assert np.array_equal(decode_image(tmp_path / "rgb16.png"), chelsea)
    opaque = np.dstack([sixteen[:, :, ::-1], np.full(chelsea.shape[:2], 65535, np.uint16)])
    cv2.imwrite(str(tmp_path / "rgba16.png"), opaque)
    assert np.array_equal(decode_image(tmp_path / "rgba16.png"), chelsea)


def test_cmyk_jpeg_and_grey_jpeg(chelsea, tmp_path):
    Image.fromarray(chelsea).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    rgb = decode_image(tmp_path / "cmyk.jpg")
    assert np.abs(rgb.astype(int) - chelsea).mean() < 8
    Image.fromarray(grey_of(chelsea)).save(tmp_path / "grey.jpg", quality=95)
    grey = decode_image(tmp_path / "grey.jpg")
    assert grey.shape == chelsea.shape and np.array_equal(grey[:, :, 0], grey[:, :, 1])


def test_transparency_is_composited_on_the_stated_background(chelsea, tmp_path):
    alpha = np.full(chelsea.shape[:2], 255, np.uint8)
    alpha[:, :100] = 0  # the left strip fully transparent
    Image.fromarray(np.dstack([chelsea, alpha]), "RGBA").save(tmp_path / "alpha.png")
    rgb = decode_image(tmp_path / "alpha.png")
    assert (rgb[:, :100] == BACKGROUND).all()
    assert np.array_equal(rgb[:, 100:], chelsea[:, 100:])
    palette = Image.fromarray(chelsea).quantize(64)
    palette.info["transparency"] = int(np.asarray(palette)[0, 0])
    palette.save(tmp_path / "palette.png", transparency=palette.info["transparency"])
    shown = decode_image(tmp_path / "palette.png")
    assert tuple(shown[0, 0]) == BACKGROUND


def test_a_large_jpeg_is_decoded_reduced(chelsea, tmp_path):
    big = Image.fromarray(chelsea).resize((6000, 4000), Image.Resampling.BILINEAR)
    big.save(tmp_path / "big.jpg", quality=85)
    rgb = decode_image(tmp_path / "big.jpg")
    assert DECODE_SHORT_SIDE <= min(rgb.shape[:2]) < 2 * DECODE_SHORT_SIDE
    assert rgb.shape[1] / rgb.shape[0] == pytest.approx(1.5, rel=0.01)
    small = np.asarray(Image.fromarray(chelsea).resize((rgb.shape[1], rgb.shape[0])))
    assert np.abs(rgb.astype(int) - small).mean() < 12  # the same picture


def write_grey_png(path: Path, width: int, height: int) -> None:
    """A valid 8-bit grey PNG written row by row (a gradient), never held in memory."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    row = b"\x00" + bytes(np.arange(width, dtype=np.uint8))
    packer = zlib.compressobj(1)
    with path.open("wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header))
        for _ in range(height):
            if data := packer.compress(row):
                f.write(chunk(b"IDAT", data))
        f.write(chunk(b"IDAT", packer.flush()) + chunk(b"IEND", b""))


def test_a_169_megapixel_png_is_a_quiet_counted_skip(tmp_path):
    path = tmp_path / "n02121808_huge.png"
    write_grey_png(path, 13_000, 13_000)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import re, sys\n"
            "from neuralpatch.engine.errors import ImageError\n"
            "from neuralpatch.engine.image_io import decode_image\n"
            "try:\n"
            "    decode_image(sys.argv[1])\n"
            "    print('decoded')\n"
            "except ImageError as exc:\n"
            "    print('skipped:', exc.message)\n"
            # VmHWM: this process's own peak (ru_maxrss would count the forked pytest's)
            "status = open('/proc/self/status').read()\n"
            "print(int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) // 1024)\n",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    verdict, peak_mib = child.stdout.splitlines()
    assert verdict.startswith("skipped: too many pixels")
    assert child.stderr == ""  # Pillow's DecompressionBombWarning never reaches the terminal
    assert int(peak_mib) < 400, f"peak {peak_mib} MiB"
    with pytest.raises(ImageError, match="too many pixels"):
        decode_image(path)


def test_decode_image_gives_upright_rgb_uint8():
    rgb = decode_image(PHOTOS[0])
    with Image.open(PHOTOS[0]) as img:
        assert rgb.shape == (img.height, img.width, 3)
    assert rgb.dtype == np.uint8 and 20 < rgb.mean() < 235


def test_decode_image_from_bytes_already_read_ignores_the_file_now():
    # The feature cache hashes bytes, then decodes those same bytes: a photo replaced in
    # between must not get the new photo's features under the old photo's key.
    first = PHOTOS[1].read_bytes()
    np.testing.assert_array_equal(decode_image(PHOTOS[0], first), decode_image(PHOTOS[1]))
    with pytest.raises(ImageError) as info:
        decode_image(PHOTOS[0], b"not an image")
    assert info.value.path == PHOTOS[0]


def test_decode_image_applies_exif_orientation(tmp_path):
    crop = Image.open(PHOTOS[3]).convert("RGB").crop((0, 0, 200, 120))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to view
    crop.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    rgb = decode_image(tmp_path / "turned.jpg")
    assert rgb.shape == (200, 120, 3)
    expected = np.asarray(crop.transpose(Image.Transpose.ROTATE_270), dtype=np.float32)
    assert np.abs(rgb.astype(np.float32) - expected).mean() < 6


def test_decode_image_also_reads_palette_and_alpha_pngs(tmp_path):
    crop = Image.open(PHOTOS[5]).crop((0, 0, 64, 48))
    crop.convert("P").save(tmp_path / "p.png")
    crop.convert("RGBA").save(tmp_path / "a.png")
    assert decode_image(tmp_path / "p.png").shape == (48, 64, 3)
    assert np.array_equal(decode_image(tmp_path / "a.png"), np.asarray(crop.convert("RGB")))


@pytest.mark.parametrize("content", [b"", b"just some text\n", "truncated"])
def test_undecodable_files_raise_image_error_naming_the_file(tmp_path, content):
    path = tmp_path / f"{DOMESTIC}_bad.jpg"
    if content == "truncated":
        content = PHOTOS[0].read_bytes()[:3000]
    path.write_bytes(content)
    with pytest.raises(ImageError) as caught:
        decode_image(path)
    assert caught.value.path == path and str(path) in str(caught.value)


def test_a_missing_image_raises_image_error(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        decode_image(tmp_path / "gone.jpg")


def test_save_jpeg_atomic_round_trips_and_leaves_no_temp_file(tmp_path):
    rgb = decode_image(PHOTOS[10])[100:300, 200:460]
    out = save_jpeg_atomic(tmp_path / "snap.jpg", rgb, quality=95)
    again = decode_image(out)
    assert again.shape == rgb.shape
    assert np.abs(again.astype(np.int16) - rgb).mean() < 4
    assert [p.name for p in tmp_path.iterdir()] == ["snap.jpg"]
    with pytest.raises(ValueError):
        save_jpeg_atomic(tmp_path / "bad.jpg", rgb.astype(np.float32))
