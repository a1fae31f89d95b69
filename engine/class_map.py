"""Tags and the `map_clsloc.txt` format: one tag rule and one parser for every reader.

A tag is `n` followed by ASCII digits, at most 64 characters (ImageNet synsets such as
`n02121808`). Two tags are the same when their numbers are equal, so `n2123045` is
`n02123045`: every comparison goes through `tag_key`. A map row is `tag index name`; the
base network's map and a dataset's map share this parser and differ only in what they do
with the rows.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from neuralpatch.engine.errors import NeuralpatchError

MAX_TAG_LEN = 64
MAX_INDEX_DIGITS = 18  # far past any real map; int() of thousands of digits is refused anyway
MAX_MAP_BYTES = 16 << 20  # ImageNet-21k's map is under 1 MiB
_TAG_RE = re.compile(r"n[0-9]+", re.ASCII)
_INDEX_RE = re.compile(r"-?[0-9]+", re.ASCII)


def is_tag(text: object) -> bool:
    """True for an `n<integer>` tag such as `n02121808` (the ImageNet synset convention)."""
    return (
        isinstance(text, str) and len(text) <= MAX_TAG_LEN and _TAG_RE.fullmatch(text) is not None
    )


def tag_key(tag: str) -> int:
    """What a tag is compared by: its number (`n7`, `n07` and `n007` are one tag)."""
    return int(tag[1:])


@dataclass(frozen=True)
class MapRow:
    """One row of a map: its tag, index column, space-less name and 1-based line number."""

    tag: str
    index: int
    name: str
    line: int


def read_map_text(path: Path, error: type[NeuralpatchError]) -> str:
    """The map's text, read only from a regular file of at most MAX_MAP_BYTES.

    A FIFO would block forever and a link to /dev/zero would read until memory runs out,
    so the file's type and size are checked before any byte is read.
    """
    try:
        with open(path, "rb", opener=_nonblocking) as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise error("not a regular file", path)
            if info.st_size > MAX_MAP_BYTES:
                raise error(f"is over the {MAX_MAP_BYTES} byte limit", path)
            data = f.read(MAX_MAP_BYTES + 1)
    except FileNotFoundError as exc:
        raise error(f"missing {path.name}", path) from exc
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", path) from exc
    if len(data) > MAX_MAP_BYTES:  # grew while we read it
        raise error(f"is over the {MAX_MAP_BYTES} byte limit", path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte {exc.start})", path) from exc


def _nonblocking(path: str, flags: int) -> int:
    """Open without blocking on a FIFO that has no writer (it is then refused, not read)."""
    return os.open(path, flags | os.O_NONBLOCK)


def parse_map(text: str, path: Path, error: type[NeuralpatchError]) -> list[MapRow]:
    """Rows of a map in file order; blank lines and `#` comments are skipped.

    Raises `error` naming the file and line for a wrong column count, a bad tag or index, or
    a tag or index given twice (tags compared by `tag_key`).
    """
    rows: list[MapRow] = []
    tag_lines: dict[int, MapRow] = {}
    index_lines: dict[int, MapRow] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        columns = line.split()
        if len(columns) != 3:
            raise error(f"expected 3 columns (tag index name), found {len(columns)}", path, number)
        tag, index_text, name = columns
        if len(tag) > MAX_TAG_LEN:
            raise error(f"tag is longer than {MAX_TAG_LEN} characters", path, number)
        if not is_tag(tag):
            raise error(f"tag {tag!r} is not 'n' followed by an integer", path, number)
        if len(index_text) > MAX_INDEX_DIGITS + 1 or _INDEX_RE.fullmatch(index_text) is None:
            raise error(
                f"index {index_text[:24]!r} is not an integer of at most {MAX_INDEX_DIGITS} digits",
                path,
                number,
            )
        row = MapRow(tag, int(index_text), name, number)
        if (earlier := tag_lines.get(tag_key(tag))) is not None:
            raise error(
                f"duplicate tag {tag} ({earlier.tag} is on line {earlier.line})", path, number
            )
        if (earlier := index_lines.get(row.index)) is not None:
            raise error(
                f"duplicate index {row.index} (already on line {earlier.line})", path, number
            )
        tag_lines[tag_key(tag)] = index_lines[row.index] = row
        rows.append(row)
    return rows


def read_map(path: Path, error: type[NeuralpatchError]) -> list[MapRow]:
    """`parse_map` of the file at `path`, read with `read_map_text`'s guards."""
    return parse_map(read_map_text(path, error), path, error)
