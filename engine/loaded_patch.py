"""A patch as the patch system holds it: the file's contents, its icon, and whether it runs."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from neuralpatch.engine.patch_file import PatchFile


@dataclass(frozen=True, eq=False)
class LoadedPatch:
    """A patch that passed every check, as the system holds it."""

    path: Path
    patch: PatchFile
    icon_rgba: np.ndarray | None = None  # decoded once at load, (h, w, 4) uint8, read-only
    signature: tuple[int, ...] | None = None  # (mtime_ns, size, inode, ctime_ns) of the file read
    disabled: str | None = None  # why it does not run, or None when it does
    chosen: str | None = None  # why it runs when other files have its name (pinned, newest)

    @property
    def name(self) -> str:
        return self.patch.name


def decode_icon(png: bytes | None) -> np.ndarray | None:
    """The icon as RGBA pixels, decoded once so a frame never pays for it."""
    if png is None:
        return None
    with Image.open(io.BytesIO(png), formats=["PNG"]) as img:
        rgba = np.asarray(img.convert("RGBA"))
    rgba.flags.writeable = False
    return rgba
