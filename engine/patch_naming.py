"""A default patch name that says what the patch is, not where its photos happened to sit.

Patches are told apart by name in a shared folder (the newest file of a name supersedes the
others), so two patches trained from folders both called `train` must not both be "train".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

# Folder names that say how the photos are organised, not what they show.
GENERIC_FOLDERS = frozenset(
    {
        "train",
        "training",
        "val",
        "valid",
        "validation",
        "test",
        "testing",
        "data",
        "dataset",
        "datasets",
        "images",
        "image",
        "imgs",
        "img",
        "photos",
        "pictures",
        "pics",
        "samples",
        "all",
        "raw",
        "input",
        "inputs",
        "src",
        "new",
        "tmp",
        "temp",
        "download",
        "downloads",
    }
)
MAX_FROM_OUTPUTS = 60


def default_patch_name(folder: str | Path, output_names: Sequence[str]) -> str:
    """The dataset folder's name; when it is generic, the nearest parent that is not
    (joined with it, e.g. `flowers train`), else the output names."""
    path = Path(folder).resolve()
    generic = [p.name for p in (path, *path.parents) if p.name]
    for i, name in enumerate(generic):
        if name.lower() not in GENERIC_FOLDERS:
            return f"{name} {generic[0]}" if i else name
    joined = " / ".join(output_names)
    if len(joined) > MAX_FROM_OUTPUTS:
        joined = joined[: MAX_FROM_OUTPUTS - 1].rstrip() + "…"
    return joined or "patch"
