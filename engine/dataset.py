"""A training-data folder: `map_clsloc.txt` at its root and `<tag>_*.jpg` images anywhere below.

Rows of the map are `tag index name`. A category whose tag the base network knows is a trigger
(the patch runs when the base network answers it); a category with images is an output (a
neuron of the patch). A row can be both. Output neurons follow the index column.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuralpatch.engine.class_map import MAX_TAG_LEN, is_tag, read_map, tag_key
from neuralpatch.engine.errors import DatasetError
from neuralpatch.engine.image_io import MAX_PHOTO_BYTES
from neuralpatch.engine.number_text import count

MAP_NAME = "map_clsloc.txt"
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
# Image types people keep next to their photos that the decoder does not take: named in
# `problems` so a folder of .heic photos does not look empty for no reason.
UNSUPPORTED_EXTENSIONS = frozenset(
    {".gif", ".tif", ".tiff", ".heic", ".heif", ".avif", ".jxl", ".jp2", ".svg", ".raw", ".cr2"}
    | {".nef", ".arw", ".dng", ".ico", ".psd"}
)
_IMAGE_TAG_RE = re.compile(r"(n[0-9]+)_", re.ASCII)

Sample = tuple[Path, int]


@dataclass
class Category:
    """One row of the map. `base_name` is the base network's name when the tag is a trigger."""

    tag: str
    index: int
    name: str
    line: int
    images: list[Path] = field(default_factory=list)
    base_name: str | None = None

    @property
    def is_trigger(self) -> bool:
        return self.base_name is not None

    @property
    def is_output(self) -> bool:
        return bool(self.images)


@dataclass
class Dataset:
    """A validated dataset folder; `problems` lists skipped files (not fatal)."""

    root: Path
    categories: list[Category]
    problems: list[str] = field(default_factory=list)

    @property
    def map_path(self) -> Path:
        return self.root / MAP_NAME

    @property
    def outputs(self) -> list[Category]:
        """Output categories in neuron order (ascending index column)."""
        return sorted((c for c in self.categories if c.is_output), key=lambda c: c.index)

    @property
    def triggers(self) -> list[str]:
        """Tags the base network knows, in map order: the patch runs when it answers one."""
        return [c.tag for c in self.categories if c.is_trigger]

    def samples(self) -> list[Sample]:
        """Every image with its output neuron, in neuron order then path order."""
        return [(path, k) for k, c in enumerate(self.outputs) for path in c.images]

    def split(self, val_fraction: float = 0.2, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
        """Stratified train/validation split, deterministic for a seed.

        Each image is ranked by a hash of (seed, path relative to root) rather than by a
        shared random stream, so adding images to one class never reshuffles another and the
        split is the same on every platform. Any class with at least two images keeps at
        least one in each half when `val_fraction > 0`.
        """
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
        train: list[Sample] = []
        val: list[Sample] = []
        for k, category in enumerate(self.outputs):
            n = len(category.images)
            n_val = 0
            if val_fraction > 0 and n >= 2:
                n_val = min(max(round(n * val_fraction), 1), n - 1)
            ranked = sorted(category.images, key=lambda p: self._rank(p, seed))
            chosen = set(ranked[:n_val])
            for path in category.images:
                (val if path in chosen else train).append((path, k))
        return train, val

    def _rank(self, path: Path, seed: int) -> str:
        rel = path.relative_to(self.root).as_posix()
        return hashlib.sha256(f"{seed}\0{rel}".encode()).hexdigest()

    def summary_lines(self) -> list[str]:
        """Human-readable report for `neuralpatch dataset check DIR`."""
        outputs = self.outputs
        lines = [
            f"Dataset {self.root}: {count(len(self.categories))} categories in {MAP_NAME}, "
            f"{count(sum(len(c.images) for c in outputs))} images"
        ]
        lines.append(f"Outputs ({count(len(outputs))} neurons):")
        for k, c in enumerate(outputs):
            also = "  (also a trigger)" if c.is_trigger else ""
            lines.append(f"  {k:>3}  {c.tag}  {c.name}: {count(len(c.images))} images{also}")
        lines.append(f"Triggers ({count(len(self.triggers))}):")
        for c in self.categories:
            if c.is_trigger:
                lines.append(f"  {c.tag}  {c.name}  (known as {c.base_name})")
        lines.append(
            f"Problems ({count(len(self.problems))}):" if self.problems else "Problems: none"
        )
        lines.extend(f"  {p}" for p in self.problems)
        return lines

    def to_summary(self) -> dict[str, Any]:
        """JSON-able description kept inside snapshots, to tell later what a patch was fed."""
        return {
            "root": str(self.root),
            "outputs": [
                {"tag": c.tag, "index": c.index, "name": c.name, "images": len(c.images)}
                for c in self.outputs
            ],
            "triggers": self.triggers,
            "problem_count": len(self.problems),
        }


def load_dataset(
    root: str | Path, base_tags: Mapping[str, str], *, empty_ok: bool = False
) -> Dataset:
    """Read and validate a dataset folder; `base_tags` maps base tag -> base display name.

    `empty_ok` accepts categories that have no photos yet and are no trigger (a category
    just added in teach mode, waiting for its first snap).

    Raises DatasetError naming the map file and line for any rule broken; image files that
    cannot be attributed to a category are skipped and listed in `problems`.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("not a folder", root)
    map_path = root / MAP_NAME
    categories = _categories(map_path, base_tags)
    by_tag = {tag_key(c.tag): c for c in categories}
    problems: list[str] = []
    for path in _image_files(root, problems):
        rel = path.relative_to(root).as_posix()
        match = _IMAGE_TAG_RE.match(path.name)
        if match is None:
            problems.append(f"{rel}: name does not start with a tag and '_' (skipped)")
        elif len(match.group(1)) > MAX_TAG_LEN or tag_key(match.group(1)) not in by_tag:
            problems.append(f"{rel}: tag {match.group(1)} is not in {MAP_NAME} (skipped)")
        else:
            by_tag[tag_key(match.group(1))].images.append(path)
    for c in categories:
        c.images.sort()
        if not c.images and not c.is_trigger and not empty_ok:
            raise DatasetError(
                f"category {c.tag} has no images and is not a base-network "
                "category (nor, with --masters, a master patch's output)",
                map_path,
                c.line,
            )
    dataset = Dataset(root, categories, problems)
    if not dataset.triggers:
        raise DatasetError(
            "no trigger category: no tag is one of the base network's (or, "
            "with --masters, a master patch's output), so the patch would "
            "never run",
            map_path,
        )
    if not dataset.outputs and not (empty_ok and any(not c.is_trigger for c in categories)):
        raise DatasetError(
            f"no output category: no image below {root} is named after a tag", map_path
        )
    if len(dataset.outputs) == 1:
        problems.append(
            f"only one output category ({dataset.outputs[0].tag}): the patch would always answer it"
        )
    return dataset


def _categories(map_path: Path, base_tags: Mapping[str, str]) -> list[Category]:
    """The map's rows as categories; a trigger's base name is found by tag number."""
    base_names = {tag_key(t): n for t, n in base_tags.items() if is_tag(t)}
    return [
        Category(r.tag, r.index, r.name, r.line, base_name=base_names.get(tag_key(r.tag)))
        for r in read_map(map_path, DatasetError)
    ]


def _image_files(root: Path, problems: list[str]) -> list[Path]:
    """Image files below `root`, sorted. Hidden files and folders (`.git`, macOS `._x.jpg`
    resource forks) are not data; symlinked folders are not followed, to avoid loops.
    Folders that cannot be listed, image types the decoder does not take and image names
    that are not regular files (a FIFO would block, a link to /dev/zero never ends) are
    noted in `problems`."""
    found: list[Path] = []
    unsupported: dict[str, list[str]] = {}

    def unreadable(exc: OSError) -> None:
        where = Path(exc.filename).relative_to(root).as_posix() if exc.filename else root
        problems.append(
            f"{where}: cannot list this folder ({exc.strerror}); its photos are left out"
        )

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            suffix = Path(name).suffix.lower()
            if name.startswith("."):
                continue
            path = Path(folder) / name
            if suffix in UNSUPPORTED_EXTENSIONS:
                unsupported.setdefault(suffix, []).append(path.relative_to(root).as_posix())
            elif suffix in IMAGE_EXTENSIONS:
                if (trouble := _not_a_photo_file(path)) is None:
                    found.append(path)
                else:
                    problems.append(f"{path.relative_to(root).as_posix()}: {trouble} (skipped)")
    for suffix, names in sorted(unsupported.items()):
        shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
        problems.append(
            f"{len(names)} {suffix} file{'s' if len(names) != 1 else ''} skipped: an image type "
            f"this tool does not read (use {', '.join(sorted(IMAGE_EXTENSIONS))}): {shown}"
        )
    return sorted(found)


def _not_a_photo_file(path: Path) -> str | None:
    """Why `path` cannot be read as a photo file, or None when it is a regular file."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return f"cannot read ({exc.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size > MAX_PHOTO_BYTES:
        return f"over the {MAX_PHOTO_BYTES} byte limit of a photo"
    return None
