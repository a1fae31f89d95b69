"""How the market screen shows one catalogue entry: its mark, its details and its icon."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from neuralpatch.engine.market_install import EntryStatus
from neuralpatch.engine.safe_text import printable

ICON_BACKGROUND = (24, 24, 32)


def mark(status: EntryStatus) -> str:
    """One glyph: ✓ installed, ↑ newer version available, ✗ other base network, · neither."""
    if status.update_available:
        return "↑"
    if (
        status.installed_entry is not None
        and status.installed_entry.version == status.entry.version
    ):
        return "✓"
    return "·" if status.fits else "✗"


def detail_text(status: EntryStatus, patch_dir: str | None) -> str:
    """Everything the index says about an entry, and how it stands here."""
    e = status.entry
    lines = [f"{printable(e.name)}  version {e.version}", printable(e.description), ""]
    lines.append("outputs:  " + ", ".join(printable(n) for _, n in e.outputs))
    lines.append("triggers: " + ", ".join(printable(n or t) for t, n in e.triggers))
    lines.append("")
    lines.append(
        "✓ fits the running base network"
        if status.fits
        else f"✗ trained on another base network ({printable(e.base_fingerprint)})"
    )
    if status.installed_entry is not None:
        lines.append(f"installed: version {status.installed_entry.version}")
    elif status.installed is not None:
        lines.append(f"a local file holds this name: {printable(status.installed.path.name)}")
    if status.update_available and status.newest_fitting is not None:
        lines.append(f"↑ version {status.newest_fitting.version} available: press i to update")
    lines.append(f"signed by {e.signature.key_id}" if e.signature else "unsigned")
    lines.append(f"{e.size} bytes · published {printable(e.published)}")
    lines.append("")
    lines.append(
        f"i installs into {printable(patch_dir)}"
        if patch_dir
        else "no patch folder to install into (camera --patches DIR, market browse --to DIR)"
    )
    return "\n".join(lines)


def icon_rgb(png: bytes) -> np.ndarray:
    """The icon over the panel's background: ImageView draws RGB."""
    with Image.open(io.BytesIO(png), formats=["PNG"]) as img:
        rgba = img.convert("RGBA")
    ground = Image.new("RGBA", rgba.size, (*ICON_BACKGROUND, 255))
    return np.asarray(Image.alpha_composite(ground, rgba).convert("RGB"))
