"""A training-data folder: `map_clsloc.txt` at its root and `<tag>_*.jpg` images anywhere below.

Rows of the map are `tag index name`. A category whose tag the base network knows is a trigger
(the patch runs when the base network answers it); a category with images is an output (a
neuron of the patch). A row can be both. Output neurons follow the index column.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuralpatch.engine.errors import DatasetError

MAP_NAME = "map_clsloc.txt"
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
MAX_TAG_LEN = 64
TAG_RE = re.compile(r"n[0-9]+", re.ASCII)
_IMAGE_TAG_RE = re.compile(r"(n[0-9]+)_", re.ASCII)
_INDEX_RE = re.compile(r"-?[0-9]+", re.ASCII)

Sample = tuple[Path, int]


def is_tag(text: object) -> bool:
    """True for an `n<integer>` tag such as `n02121808` (the ImageNet synset convention)."""
    return isinstance(text, str) and len(text) <= MAX_TAG_LEN and TAG_RE.fullmatch(text) is not None


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
            f"Dataset {self.root}: {len(self.categories)} categories in {MAP_NAME}, "
            f"{sum(len(c.images) for c in outputs)} images"
        ]
        lines.append(f"Outputs ({len(outputs)} neurons):")
        for k, c in enumerate(outputs):
            also = "  (also a trigger)" if c.is_trigger else ""
            lines.append(f"  {k:>3}  {c.tag}  {c.name}: {len(c.images)} images{also}")
        lines.append(f"Triggers ({len(self.triggers)}):")
        for c in self.categories:
            if c.is_trigger:
                lines.append(f"  {c.tag}  {c.name}  (known as {c.base_name})")
        lines.append(f"Problems ({len(self.problems)}):" if self.problems else "Problems: none")
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


def load_dataset(root: str | Path, base_tags: Mapping[str, str]) -> Dataset:
    """Read and validate a dataset folder; `base_tags` maps base tag -> base display name.

    Raises DatasetError naming the map file and line for any rule broken; image files that
    cannot be attributed to a category are skipped and listed in `problems`.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("not a folder", root)
    map_path = root / MAP_NAME
    categories = _parse_map(map_path, base_tags)
    by_tag = {c.tag: c for c in categories}
    problems: list[str] = []
    for path in _image_files(root, problems):
        rel = path.relative_to(root).as_posix()
        match = _IMAGE_TAG_RE.match(path.name)
        if match is None:
            problems.append(f"{rel}: name does not start with a tag and '_' (skipped)")
        elif match.group(1) not in by_tag:
            problems.append(f"{rel}: tag {match.group(1)} is not in {MAP_NAME} (skipped)")
        else:
            by_tag[match.group(1)].images.append(path)
    for c in categories:
        c.images.sort()
        if not c.images and not c.is_trigger:
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
    if not dataset.outputs:
        raise DatasetError(
            f"no output category: no image below {root} is named after a tag", map_path
        )
    if len(dataset.outputs) == 1:
        problems.append(
            f"only one output category ({dataset.outputs[0].tag}): the patch would always answer it"
        )
    return dataset


def _parse_map(map_path: Path, base_tags: Mapping[str, str]) -> list[Category]:
    try:
        text = map_path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise DatasetError(f"missing {MAP_NAME}", map_path) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror}", map_path) from exc
    except UnicodeDecodeError as exc:
        raise DatasetError("not UTF-8 text", map_path) from exc
    categories: list[Category] = []
    tag_lines: dict[int, Category] = {}
    index_lines: dict[int, Category] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        columns = line.split()
        if len(columns) != 3:
            raise DatasetError(
                f"expected 3 columns (tag index name), found {len(columns)}", map_path, number
            )
        tag, index_text, name = columns
        if len(tag) > MAX_TAG_LEN:
            raise DatasetError(f"tag is longer than {MAX_TAG_LEN} characters", map_path, number)
        if not is_tag(tag):
            raise DatasetError(f"tag {tag!r} is not 'n' followed by an integer", map_path, number)
        if _INDEX_RE.fullmatch(index_text) is None:
            raise DatasetError(f"index {index_text!r} is not an integer", map_path, number)
        index = int(index_text)
        # Tags are told apart by their number, as in the original tool: n7 and n007 clash.
        if (earlier := tag_lines.get(int(tag[1:]))) is not None:
            raise DatasetError(
                f"duplicate tag {tag} ({earlier.tag} is on line {earlier.line})", map_path, number
            )
        if (earlier := index_lines.get(index)) is not None:
            raise DatasetError(
                f"duplicate index {index} (already on line {earlier.line})", map_path, number
            )
        category = Category(tag, index, name, number, base_name=base_tags.get(tag))
        tag_lines[int(tag[1:])] = index_lines[index] = category
        categories.append(category)
    return categories


def _image_files(root: Path, problems: list[str]) -> list[Path]:
    """Image files below `root`, sorted. Hidden files and folders (`.git`, macOS `._x.jpg`
    resource forks) are not data; symlinked folders are not followed, to avoid loops.
    Folders that cannot be listed are noted in `problems`."""
    found: list[Path] = []

    def unreadable(exc: OSError) -> None:
        where = Path(exc.filename).relative_to(root).as_posix() if exc.filename else root
        problems.append(
            f"{where}: cannot list this folder ({exc.strerror}); its photos are left out"
        )

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                found.append(Path(folder) / name)
    return sorted(found)
