"""Changing a dataset folder from teach mode: new categories, relabelled and deleted photos.

Every change is atomic: the map is rewritten through `write_atomic` with its existing rows
kept byte for byte, a relabel is one rename in the same folder (never over another file), a
delete one unlink. A category made up here gets a tag no ImageNet class and no map row uses,
so it can never be mistaken for a trigger.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable
from pathlib import Path

from neuralpatch.engine.atomic import write_atomic
from neuralpatch.engine.dataset import MAP_NAME, Dataset, is_tag
from neuralpatch.engine.errors import DatasetError

BACKGROUND_NAME = "background"
FIRST_MADE_UP_TAG = 90_000_001  # ImageNet synsets are n0xxxxxxx: n9... never clash
MAX_CATEGORY_NAME = 200
_PHOTO_TAG_RE = re.compile(r"(n[0-9]+)_(.*)", re.ASCII | re.DOTALL)


def category_name(text: str) -> str:
    """A map-ready name: trimmed, inner white space as `_` (the map's columns are space-split)."""
    name = "_".join(text.split())
    if not name:
        raise DatasetError("a category needs a name")
    if name.startswith("#"):
        raise DatasetError("a category name cannot start with '#' (the map's comment mark)")
    if len(name) > MAX_CATEGORY_NAME:
        raise DatasetError(f"a category name is at most {MAX_CATEGORY_NAME} characters")
    if not name.isprintable():
        raise DatasetError("a category name cannot hold control characters")
    return name


def free_tag(dataset: Dataset, taken: Iterable[str] = ()) -> str:
    """The first `n9xxxxxxx` tag whose number neither the map nor `taken` (base tags) uses."""
    used = {int(c.tag[1:]) for c in dataset.categories}
    used |= {int(t[1:]) for t in taken if is_tag(t)}
    number = FIRST_MADE_UP_TAG
    while number in used:
        number += 1
    return f"n{number}"


def add_category(
    dataset: Dataset, name: str, taken: Iterable[str] = (), *, tag: str | None = None
) -> tuple[str, int, str]:
    """Append a row `tag index name` to the dataset's map; returns (tag, index, name).

    The tag is made up (`free_tag`) unless given. Refuses a name the map already has
    (case-insensitive): two rows with one name would make a label by name ambiguous.
    """
    name = category_name(name)
    for c in dataset.categories:
        if c.name.casefold() == name.casefold():
            raise DatasetError(f"the map already has a category named {c.name}", dataset.map_path)
    tag = tag or free_tag(dataset, taken)
    index = max((c.index for c in dataset.categories), default=0) + 1
    path = dataset.map_path
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror}", path) from exc
    if text and not text.endswith(b"\n"):
        text += b"\n"
    try:
        write_atomic(path, text + f"{tag} {index} {name}\n".encode())
    except OSError as exc:
        raise DatasetError(f"cannot write {MAP_NAME}: {exc.strerror}", path) from exc
    return tag, index, name


def relabelled_name(path: Path, tag: str) -> str:
    """The photo's name with its tag prefix swapped: `n1_2025...jpg` -> `n2_2025...jpg`."""
    match = _PHOTO_TAG_RE.fullmatch(path.name)
    rest = match.group(2) if match else path.name
    return f"{tag}_{rest}"


def relabel_photo(path: str | Path, tag: str) -> Path:
    """Rename the photo to `tag`'s prefix in the same folder; never replaces another file."""
    path = Path(path)
    target = path.with_name(relabelled_name(path, tag))
    if target == path:
        return path
    stem, suffix = target.stem, target.suffix
    for n in range(1000):
        candidate = target if n == 0 else target.with_name(f"{stem}-{n}{suffix}")
        try:
            os.link(path, candidate)  # fails if the name is taken: no race with another writer
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise DatasetError(f"cannot relabel: {exc.strerror}", path) from exc
            if candidate.exists():
                continue
            _rename(path, candidate)  # no hard links here: a plain rename is still atomic
            return candidate
        try:
            path.unlink()
        except OSError as exc:
            candidate.unlink(missing_ok=True)
            raise DatasetError(f"cannot relabel: {exc.strerror}", path) from exc
        return candidate
    raise DatasetError("cannot relabel: no free file name", path)


def _rename(path: Path, target: Path) -> None:
    try:
        os.rename(path, target)
    except OSError as exc:
        raise DatasetError(f"cannot relabel: {exc.strerror}", path) from exc


def delete_photo(path: str | Path) -> None:
    """Remove a labelled photo from the dataset (one unlink: it is there or it is not)."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DatasetError(f"cannot delete: {exc.strerror}", path) from exc
