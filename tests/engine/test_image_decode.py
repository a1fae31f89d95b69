"""Photos stored in any common way decode to the same RGB, and huge ones cost little.

Made from the real chelsea photo: 16-bit grey, 16-bit RGB and RGBA PNGs (scaled by 257, so
the top byte is the 8-bit original), a CMYK JPEG, transparent PNGs; a 24-megapixel JPEG is
decoded reduced; a real 169-megapixel PNG is a counted skip, in a child process whose peak
memory is measured.
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
from neuralpatch.engine.image_io import BACKGROUND, DECODE_SHORT_SIDE, decode_image


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
