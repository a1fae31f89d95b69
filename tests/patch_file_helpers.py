"""Shared by the `.specialneurons` file tests: a real patch, and hand-made broken copies."""

from __future__ import annotations

import hashlib
import io
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from neuralpatch.engine.errors import PatchFormatError
from neuralpatch.engine.patch_file import PatchFile, PatchOutput, load_patch

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
PHOTO = SAMPLE / "n02127808_302.jpg"
TRIGGERS = ["n02123045", "n02123159", "n02123394", "n02129165"]
OUTPUTS = [
    PatchOutput("n02121808", "domestic_cat"),
    PatchOutput("n02124623", "wildcat"),
    PatchOutput("n02127808", "big_cat"),
]


def png_bytes(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    """A PNG cut from a real photo."""
    img = Image.open(PHOTO).convert(mode).crop((300, 200, 300 + size[0], 200 + size[1]))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def make_patch(**changes: Any) -> PatchFile:
    rng = np.random.default_rng(42)
    fields: dict[str, Any] = dict(
        name="felix cats",
        description="domestic / small wild / big",
        triggers=list(TRIGGERS),
        outputs=list(OUTPUTS),
        weights=rng.normal(0, 0.05, (3, 1280)).astype(np.float32),
        bias=np.array([0.1, -0.2, 0.3], np.float32),
        base_fingerprint="3f2a9c0d11e4b7a8",
        icon_png=png_bytes(),
        created="2025-06-15T12:34:56+00:00",  # fixed: equal in every copy, to the second
    )
    fields.update(changes)
    return PatchFile(**fields)


def split_file(path: Path) -> tuple[bytes, dict[str, Any], bytes]:
    """Read a container by hand, exactly as docs/patch-format.md describes."""
    data = path.read_bytes()
    (header_len,) = struct.unpack_from("<I", data, 8)
    return data[:8], json.loads(data[12 : 12 + header_len]), data[12 + header_len :]


def forge(
    path: Path,
    edit: Callable[[dict[str, Any], bytearray], None],
    *,
    fix_sha: bool = True,
    magic: bytes | None = None,
) -> Path:
    """Rewrite a valid file after `edit` changed its header and payload in place."""
    old_magic, header, payload = split_file(path)
    payload = bytearray(payload)
    edit(header, payload)
    if fix_sha:
        header["payload_nbytes"] = len(payload)
        header["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    text = json.dumps(header).encode()
    path.write_bytes((magic or old_magic) + struct.pack("<I", len(text)) + text + payload)
    return path


def refused(path: Path, words: str) -> PatchFormatError:
    with pytest.raises(PatchFormatError) as caught:
        load_patch(path)
    assert words in str(caught.value), str(caught.value)
    assert caught.value.path == path
    return caught.value
